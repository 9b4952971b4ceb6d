"""The "Failover and limits" panel of the connection page, the overview's open breakers, and the
breaker gauge of /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from tests.dashboard.test_metrics import scrape, value
from tests.factories import VendorAccountFactory
from vendors.models import BreakerState, BreakerTransition, CircuitBreaker, VendorAccount

pytestmark = pytest.mark.django_db


def open_breaker(account: VendorAccount) -> CircuitBreaker:
    now = timezone.now()
    BreakerTransition.objects.create(
        account=account,
        state_from=BreakerState.CLOSED,
        state_to=BreakerState.OPEN,
        reason="The vendor answered 503 (HTTP 503: <b>down</b>).",
    )
    return CircuitBreaker.objects.create(
        account=account,
        state=BreakerState.OPEN,
        consecutive_failures=1,
        last_failure="HTTP 503: <b>down</b>",
        opened_at=now,
        open_until=now + timedelta(seconds=60),
    )


def test_it_shows_the_breaker_and_its_history_on_the_connection_page(client_as):
    account = VendorAccountFactory(name="Revrag main")
    open_breaker(account)
    page = client_as("admin").get(reverse("settings_vendor", kwargs={"pk": account.pk}))
    html = page.content.decode()
    assert 'data-breaker-state="open"' in html
    assert "Close it now" in html
    assert "Closed: requests go through" in html  # the history's "from", as a label
    assert "<b>down</b>" not in html and "&lt;b&gt;down&lt;/b&gt;" in html
    assert 'name="max_live_calls"' in html


def test_it_says_when_the_breaker_never_opened(client_as):
    account = VendorAccountFactory()
    html = client_as("admin").get(reverse("settings_vendor", kwargs={"pk": account.pk}))
    assert "The breaker has never opened." in html.content.decode()
    assert 'data-breaker-state="closed"' in html.content.decode()


def test_an_admin_saves_the_limits_and_it_is_audited(client_as):
    account = VendorAccountFactory()
    response = client_as("admin").post(
        reverse("settings_vendor_limits", kwargs={"pk": account.pk}),
        {"breaker_failure_threshold": "3", "breaker_cooldown_seconds": "30", "max_live_calls": "4"},
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.breaker_failure_threshold, account.breaker_cooldown_seconds) == (3, 30)
    assert account.max_live_calls == 4
    event = AuditEvent.objects.get(action=AuditAction.VENDOR_ACCOUNT_UPDATED)
    assert event.detail["changed"] == [
        "breaker_cooldown_seconds",
        "breaker_failure_threshold",
        "max_live_calls",
    ]


def test_it_refuses_bad_limits_with_a_400_and_keeps_the_old_ones(client_as):
    account = VendorAccountFactory(max_live_calls=2)
    response = client_as("admin").post(
        reverse("settings_vendor_limits", kwargs={"pk": account.pk}),
        {"breaker_failure_threshold": "0", "breaker_cooldown_seconds": "x", "max_live_calls": ""},
    )
    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    account.refresh_from_db()
    assert (account.breaker_failure_threshold, account.max_live_calls) == (5, 2)
    assert not AuditEvent.objects.filter(action=AuditAction.VENDOR_ACCOUNT_UPDATED).exists()


def test_closing_by_hand_asks_first_then_closes_and_audits(client_as):
    account = VendorAccountFactory()
    open_breaker(account)
    admin = client_as("admin")
    url = reverse("settings_vendor_breaker_close", kwargs={"pk": account.pk})
    confirm = admin.get(url)
    assert "Close the circuit breaker of" in confirm.content.decode()
    assert CircuitBreaker.objects.get(account=account).state == BreakerState.OPEN
    assert admin.post(url).status_code == 302
    assert CircuitBreaker.objects.get(account=account).state == BreakerState.CLOSED
    event = AuditEvent.objects.get(action=AuditAction.VENDOR_BREAKER_CHANGED)
    assert event.actor_label == "adele"


@pytest.mark.parametrize("role", ["operator", "manager"])
def test_only_admins_change_limits_or_close_a_breaker(client_as, role):
    account = VendorAccountFactory()
    open_breaker(account)
    client = client_as(role)
    limits = client.post(
        reverse("settings_vendor_limits", kwargs={"pk": account.pk}),
        {"breaker_failure_threshold": "3", "breaker_cooldown_seconds": "30"},
    )
    close = client.post(reverse("settings_vendor_breaker_close", kwargs={"pk": account.pk}))
    assert (limits.status_code, close.status_code) == (403, 403)
    assert CircuitBreaker.objects.get(account=account).state == BreakerState.OPEN


def test_the_overview_lists_open_breakers_under_needs_attention(client_as):
    account = VendorAccountFactory(name="Revrag main")
    open_breaker(account)
    VendorAccountFactory(name="Healthy one")
    for role, linked in (("admin", True), ("manager", False)):
        html = client_as(role).get(reverse("overview")).content.decode()
        attention = html[html.index("Needs attention") :]
        assert "data-open-breaker" in attention
        assert "Revrag main" in attention and "Healthy one" not in attention
        link = reverse("settings_vendor", kwargs={"pk": account.pk})
        assert (link in attention) is linked


def test_the_metrics_gauge_shows_each_breakers_state():
    open_account = VendorAccountFactory(name="Down")
    open_breaker(open_account)
    VendorAccountFactory(name="Never used")
    samples = scrape()
    labels = {"account": "Down", "vendor": open_account.kind}
    assert value(samples, "callops_vendor_breaker_state", **labels) == 2
    assert (
        value(samples, "callops_vendor_breaker_state", account="Never used", vendor="revrag") == 0
    )
    assert ("callops_vendor_breaker_state", (("account", "Never used"), ("vendor", "revrag"))) in (
        samples
    )
