"""A token never grants more than its creator has now: demotion and deactivation bite at once."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
AUDIT = "/api/v1/audit-events/"
CALLS = "/api/v1/calls/"
TOKEN_RE = re.compile(r"cop_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def otto(make_user):
    return make_user("otto", Role.ADMIN)


def _token_made_over_http(user, role: str) -> str:
    """A token made the way an admin makes one: Settings → API tokens."""
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("settings_token_new"), {"name": f"{role} token", "role": role, "expires_on": ""}
    )
    assert response.status_code == 200
    return TOKEN_RE.search(response.content.decode()).group(0)


def _get(path: str, token: str):
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_it_answers_403_on_admin_endpoints_once_the_tokens_admin_is_demoted(client_as, otto):
    token = _token_made_over_http(otto, "admin")
    assert _get(AUDIT, token).status_code == 200

    demoted = client_as("admin").post(
        reverse("settings_user", kwargs={"pk": otto.pk}), {"role": "operator"}
    )
    assert demoted.status_code == 302

    refused = _get(AUDIT, token)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    # What both the token and its user may still do keeps working.
    assert _get(CALLS, token).status_code == 200
    me = _get(ME, token).json()
    assert me["role"] == "operator"
    assert "manage_settings" not in me["capabilities"]


def test_it_answers_401_to_every_token_of_a_deactivated_user(client_as, otto):
    admin_token = _token_made_over_http(otto, "admin")
    operator_token = _token_made_over_http(otto, "operator")
    assert _get(AUDIT, admin_token).status_code == 200

    admin = client_as("admin")
    url = reverse("settings_user_active", kwargs={"pk": otto.pk})
    assert admin.post(url, {"active": "0"}).status_code == 302

    for token in (admin_token, operator_token):
        for path in (AUDIT, ME, CALLS):
            response = _get(path, token)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "authentication_failed"
            assert "deactivated" in response.json()["error"]["message"]

    # Reactivated, the tokens work again (revoking them is a separate, explicit act).
    assert admin.post(url, {"active": "1"}).status_code == 302
    assert _get(AUDIT, admin_token).status_code == 200


def test_it_stops_a_superusers_admin_token_when_the_superuser_is_demoted(client_as, make_user):
    root = make_user("root", is_superuser=True)
    token = _token_made_over_http(root, "admin")
    assert _get(AUDIT, token).status_code == 200

    client_as("admin").post(reverse("settings_user", kwargs={"pk": root.pk}), {"role": "manager"})

    assert _get(AUDIT, token).status_code == 403
    assert _get(ME, token).json()["role"] == "manager"


def test_it_never_raises_a_token_above_its_own_role_when_its_user_is_promoted(client_as, make_user):
    mona = make_user("mona", Role.ADMIN)
    token = _token_made_over_http(mona, "manager")
    assert _get(AUDIT, token).status_code == 403
    assert _get(ME, token).json()["role"] == "manager"
