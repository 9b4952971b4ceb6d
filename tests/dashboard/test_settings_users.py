"""Settings → users: create with a checked password, change roles, deactivate; last admin kept."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from accounts.roles import Capability, Role, has_capability, primary_role
from dashboard import services

pytestmark = pytest.mark.django_db


def test_it_creates_a_user_with_a_role(client_as):
    response = client_as("admin").post(
        reverse("settings_user_new"),
        {
            "username": "nadia",
            "email": "nadia@example.com",
            "role": "manager",
            "password1": "plum-orchard-47-kite",
            "password2": "plum-orchard-47-kite",
        },
    )
    assert response.status_code == 302
    nadia = get_user_model().objects.get(username="nadia")
    assert primary_role(nadia) == Role.MANAGER
    assert nadia.check_password("plum-orchard-47-kite")
    event = AuditEvent.objects.get(action=AuditAction.USER_CREATED)
    assert event.detail["role"] == "manager"


@pytest.mark.parametrize(
    ("password", "message"),
    [("12345678", "too common"), ("short", "too short"), ("nadia-nadia", "too similar")],
)
def test_it_checks_the_initial_password(client_as, password, message):
    response = client_as("admin").post(
        reverse("settings_user_new"),
        {
            "username": "nadia-nadia",
            "email": "",
            "role": "operator",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["password1"])
    assert not get_user_model().objects.filter(username="nadia-nadia").exists()


def test_it_refuses_a_taken_username(client_as):
    response = client_as("admin").post(
        reverse("settings_user_new"),
        {
            "username": "OLIVIA",
            "role": "operator",
            "password1": "plum-orchard-47-kite",
            "password2": "plum-orchard-47-kite",
        },
    )
    assert "exists" in " ".join(response.context["form"].errors["username"])


def test_it_changes_a_role_and_audits_it(client_as, role_users):
    olivia = role_users["operator"]
    client_as("admin").post(reverse("settings_user", kwargs={"pk": olivia.pk}), {"role": "manager"})
    olivia = get_user_model().objects.get(pk=olivia.pk)
    assert primary_role(olivia) == Role.MANAGER
    assert list(olivia.groups.values_list("name", flat=True)) == ["manager"]
    event = AuditEvent.objects.get(action=AuditAction.ROLE_CHANGED)
    assert event.detail == {"user_id": olivia.pk, "from": "operator", "to": "manager"}
    assert event.actor_label == "adele"


def test_it_keeps_the_last_active_admin(client_as, role_users):
    adele = role_users["admin"]
    response = client_as("admin").post(
        reverse("settings_user", kwargs={"pk": adele.pk}), {"role": "operator"}
    )
    assert response.status_code == 200
    assert "last active admin" in response.content.decode()
    assert has_capability(get_user_model().objects.get(pk=adele.pk), Capability.MANAGE_SETTINGS)


def test_it_refuses_to_let_an_admin_deactivate_themselves(client_as, role_users):
    adele = role_users["admin"]
    response = client_as("admin").post(
        reverse("settings_user_active", kwargs={"pk": adele.pk}), {"active": "0"}
    )
    assert response.status_code == 400
    assert "your own account" in response.content.decode()
    assert get_user_model().objects.get(pk=adele.pk).is_active


def test_it_refuses_to_deactivate_the_last_active_admin(make_user):
    root = make_user("root", is_superuser=True)
    make_user("otto", Role.ADMIN, is_active=False)  # an inactive admin does not count
    with pytest.raises(services.SettingsError, match="last active admin"):
        services.user_set_active(user=root, active=False)
    assert get_user_model().objects.get(pk=root.pk).is_active


def test_it_deactivates_and_reactivates_a_user_after_confirming(client_as, role_users):
    olivia = role_users["operator"]
    admin = client_as("admin")
    url = reverse("settings_user_active", kwargs={"pk": olivia.pk})
    assert b"Deactivate" in admin.get(url).content
    assert get_user_model().objects.get(pk=olivia.pk).is_active

    admin.post(url, {"active": "0"})
    assert not get_user_model().objects.get(pk=olivia.pk).is_active
    admin.post(url, {"active": "1"})
    assert get_user_model().objects.get(pk=olivia.pk).is_active
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [AuditAction.USER_DEACTIVATED, AuditAction.USER_REACTIVATED]


def test_it_lets_one_admin_demote_another_when_two_are_active(client_as, make_user):
    otto = make_user("otto", Role.ADMIN)
    client_as("admin").post(reverse("settings_user", kwargs={"pk": otto.pk}), {"role": "operator"})
    assert primary_role(get_user_model().objects.get(pk=otto.pk)) == Role.OPERATOR
