"""REST API foundations: token authentication, role of the token, errors, throttling, pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework import exceptions

from accounts.api import api_exception_handler
from accounts.audit import audit_record
from accounts.authentication import principal_for
from accounts.models import ApiToken, AuditAction, AuditEvent
from accounts.roles import ROLE_CAPABILITIES, Role
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
AUDIT = "/api/v1/audit-events/"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def bearer(token: ApiToken, keyword: str = "Bearer") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"{keyword} {token.plaintext}"}


def test_it_routes_the_documented_paths():
    assert reverse("api_me") == ME
    assert reverse("api_audit_events") == AUDIT


def test_it_tells_a_signed_in_user_who_they_are(client_as):
    body = client_as("manager").get(ME).json()
    assert body["kind"] == "user"
    assert body["name"] == "manuel"
    assert body["role"] == "manager"
    assert set(body["capabilities"]) == {c.value for c in ROLE_CAPABILITIES[Role.MANAGER]}
    assert body["token_prefix"] is None


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_it_authenticates_a_token_with_its_own_role(role_users, keyword):
    token = ApiTokenFactory(name="CRM", role="operator", created_by=role_users["admin"])
    response = Client().get(ME, **bearer(token, keyword))
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "token"
    assert body["name"] == "CRM"
    assert body["username"] == "adele"
    assert body["role"] == "operator"
    assert "manage_settings" not in body["capabilities"]


def test_it_does_not_give_a_token_its_creators_permissions(role_users):
    token = ApiTokenFactory(role="operator", created_by=role_users["admin"])
    response = Client().get(AUDIT, **bearer(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_it_answers_401_with_the_error_body_without_credentials():
    response = Client().get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"revoked_at": timezone.now()}, "revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
    ],
)
def test_it_rejects_a_revoked_or_expired_token(change, message):
    token = ApiTokenFactory()
    ApiToken.objects.filter(pk=token.pk).update(**change)
    response = Client().get(ME, **bearer(token))
    assert response.status_code == 401
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nonsense",
        "Bearer cop_deadbeef_wrongsecret",
        "Bearer cop_1234_short",
        "Bearer two words",
        "Bearer",
    ],
)
def test_it_rejects_a_wrong_token(header):
    ApiTokenFactory()
    response = Client().get(ME, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_it_rejects_a_right_prefix_with_a_wrong_secret():
    token = ApiTokenFactory()
    forged = f"cop_{token.prefix}_{'A' * 43}"
    response = Client().get(ME, HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401


def test_it_records_the_last_use_at_most_once_a_minute():
    token = ApiTokenFactory()
    client = Client()
    client.get(ME, **bearer(token))
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get(ME, **bearer(token))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(ME, **bearer(token))
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first - timedelta(minutes=1)


def test_it_throttles_each_token_on_its_own(settings, client_as):
    settings.CALLOPS_API_RATE = "2/min"
    token, other = ApiTokenFactory(), ApiTokenFactory()
    client = Client()
    assert [client.get(ME, **bearer(token)).status_code for _ in range(2)] == [200, 200]
    limited = client.get(ME, **bearer(token))
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    assert client.get(ME, **bearer(other)).status_code == 200
    # Browser sessions are not counted against any token.
    session = client_as("admin")
    assert all(session.get(ME).status_code == 200 for _ in range(3))


def test_it_pages_the_audit_events_with_a_cursor(client_as):
    AuditEvent.objects.bulk_create(
        AuditEvent(action=AuditAction.LOGOUT, target=f"e{n}") for n in range(70)
    )
    admin = client_as("admin")
    first = admin.get(AUDIT, {"limit": 50}).json()
    assert len(first["results"]) == 50
    assert first["previous"] is None
    second = admin.get(first["next"]).json()
    assert len(second["results"]) == 20
    assert second["next"] is None
    ids = [event["id"] for event in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 70


def test_it_filters_the_audit_events(client_as, role_users):
    audit_record(action=AuditAction.TOKEN_CREATED, actor=role_users["admin"], target="mine")
    audit_record(action=AuditAction.LOGOUT, actor=role_users["operator"], target="theirs")
    body = client_as("admin").get(AUDIT, {"action": "token_created"}).json()
    assert [event["target"] for event in body["results"]] == ["mine"]
    assert body["results"][0]["actor"] == "adele"


def test_it_lists_the_audit_events_for_an_admin_token(role_users):
    token = ApiTokenFactory(role="admin", created_by=role_users["admin"])
    audit_record(action=AuditAction.LOGOUT, target="x")
    response = Client().get(AUDIT, **bearer(token))
    assert response.status_code == 200
    assert response.json()["results"][0]["action"] == "logout"


def test_it_explains_a_bad_filter_field_by_field(client_as):
    response = client_as("admin").get(AUDIT, {"action": "nope", "since": "yesterday"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"action", "since"}


def test_it_answers_a_bad_cursor_with_the_error_body(client_as):
    response = client_as("admin").get(AUDIT, {"cursor": "garbage"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_turns_an_unexpected_error_into_a_500_body(caplog):
    response = api_exception_handler(RuntimeError("boom"), {"view": None})
    assert response.status_code == 500
    assert response.data == {
        "error": {"code": "server_error", "message": "Something went wrong on our side."}
    }
    assert "boom" in caplog.text


def test_it_keeps_non_field_validation_messages():
    error = exceptions.ValidationError({"non_field_errors": ["Pick one."], "name": ["Too long."]})
    response = api_exception_handler(error, {})
    assert response.data == {
        "error": {"code": "invalid", "message": "Pick one.", "fields": {"name": ["Too long."]}}
    }


def test_it_checks_csrf_for_session_writes_but_not_for_tokens(role_users):
    session = Client(enforce_csrf_checks=True)
    session.force_login(role_users["admin"])
    refused = session.post(ME)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    token = ApiTokenFactory(role="admin")
    not_allowed = Client(enforce_csrf_checks=True).post(ME, **bearer(token))
    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"]["code"] == "method_not_allowed"


def test_it_gives_the_token_principal_its_creator_for_records_but_never_saves(role_users):
    token = ApiTokenFactory(role="operator", created_by=role_users["admin"])
    principal = principal_for(token)
    event = audit_record(action=AuditAction.LOGOUT, actor=principal, target="via token")
    assert event.actor_id == role_users["admin"].pk
    assert event.actor_label == f"adele (token {token.name})"
    with pytest.raises(PermissionError):
        principal.save()
