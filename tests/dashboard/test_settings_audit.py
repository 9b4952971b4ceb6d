"""Settings → audit log: filterable, paginated, read-only; the landing page links every section."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def test_it_links_every_settings_section(client_as):
    page = client_as("admin").get(reverse("settings")).content.decode()
    for name in ("settings_vendors", "settings_users", "settings_tokens", "settings_audit"):
        assert f'href="{reverse(name)}"' in page


def test_it_filters_the_audit_log_by_action_and_actor(client_as, role_users):
    audit_record(action=AuditAction.TOKEN_CREATED, actor=role_users["admin"], target="t1")
    audit_record(action=AuditAction.TOKEN_REVOKED, actor=role_users["admin"], target="t2")
    audit_record(action=AuditAction.TOKEN_CREATED, actor=role_users["operator"], target="t3")
    admin = client_as("admin")
    page = admin.get(reverse("settings_audit"), {"action": "token_created", "actor": "ade"})
    events = list(page.context["page"].object_list)
    assert [event.target for event in events] == ["t1"]


def test_it_filters_the_audit_log_by_date(client_as):
    old = audit_record(action=AuditAction.LOGOUT, target="old")
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=10))
    audit_record(action=AuditAction.LOGOUT, target="new")
    today = timezone.localdate()
    page = client_as("admin").get(
        reverse("settings_audit"), {"since": str(today - timedelta(days=1)), "until": str(today)}
    )
    assert [event.target for event in page.context["page"].object_list] == ["new"]


def test_it_paginates_and_keeps_the_filters(client_as):
    AuditEvent.objects.bulk_create(
        AuditEvent(action=AuditAction.LOGOUT, target=f"e{n}") for n in range(60)
    )
    response = client_as("admin").get(reverse("settings_audit"), {"action": "logout"})
    page = response.context["page"]
    assert page.paginator.num_pages == 2
    assert "action=logout&amp;page=2" in response.content.decode()


def test_it_renders_only_the_events_region_for_htmx(client_as):
    audit_record(action=AuditAction.LOGOUT, target="x")
    response = client_as("admin").get(reverse("settings_audit"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="panel" id="audit-events">')
    assert "<html" not in body


def test_it_offers_no_way_to_change_the_audit_log(client_as):
    audit_record(action=AuditAction.LOGOUT, target="x")
    page = client_as("admin").get(reverse("settings_audit")).content.decode()
    assert 'method="post"' not in page.split('id="audit-events"')[1]
