from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from accounts.roles import Role
from tests.conftest import PASSWORD


@pytest.fixture
def operator(make_user):
    return make_user("olivia", Role.OPERATOR)


def sign_in(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_it_signs_in_and_lands_on_the_overview(client, operator):
    response = sign_in(client, "olivia", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("overview")
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_SUCCEEDED, actor=operator).exists()


def test_it_follows_a_safe_next_url_only(client, operator):
    response = client.post(
        reverse("login") + "?next=/calls/", {"username": "olivia", "password": PASSWORD}
    )
    assert response["Location"] == "/calls/"
    client.logout()
    response = client.post(
        reverse("login") + "?next=https://evil.example/",
        {"username": "olivia", "password": PASSWORD},
    )
    assert response["Location"] == reverse("overview")


def test_it_refuses_a_wrong_password_with_a_clear_message_and_audits_it(client, operator):
    response = sign_in(client, "olivia", "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    failure = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert failure.detail == {"username": "olivia"}
    assert failure.ip_address == "127.0.0.1"


def test_it_locks_a_username_after_repeated_failures_even_from_spoofed_addresses(
    client, operator, settings
):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "olivia", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
    response = sign_in(client, "olivia", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()


def test_it_signs_out_only_by_post(client, operator):
    client.force_login(operator)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("overview")).status_code == 302


def test_it_refuses_a_post_without_csrf_token(operator):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 403


def test_it_sends_security_headers(client):
    response = client.get(reverse("login"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-eval'" not in policy and "'unsafe-inline'" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_it_locks_one_client_behind_a_trusted_proxy_not_everyone(client, make_user, settings):
    settings.CALLOPS_TRUSTED_PROXIES = 1
    make_user("olivia", Role.OPERATOR)
    make_user("oscar", Role.OPERATOR)
    # Behind nginx every connection is the proxy's; the header's last address is what it saw.
    attacker = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.50"}
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        # Across usernames, and with a different address written by the client each time.
        spoofed = {**attacker, "HTTP_X_FORWARDED_FOR": f"6.6.6.{attempt}, 203.0.113.50"}
        sign_in(client, f"nobody{attempt}", "wrong", **spoofed)
    assert sign_in(client, "oscar", PASSWORD, **attacker).status_code == 429

    colleague = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    response = sign_in(client, "olivia", PASSWORD, **colleague)
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).first().ip_address == (
        "203.0.113.50"
    )


def test_it_reads_only_the_connection_without_a_trusted_proxy(rf, settings):
    from accounts.client_address import client_address

    settings.CALLOPS_TRUSTED_PROXIES = 0
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert client_address(request) == "10.0.0.2"
    settings.CALLOPS_TRUSTED_PROXIES = 2
    assert client_address(request) == "10.0.0.2"  # through one proxy only: not trusted
    request.META["HTTP_X_FORWARDED_FOR"] = "6.6.6.6, 203.0.113.50, 10.0.0.9"
    assert client_address(request) == "203.0.113.50"
    request.META["HTTP_X_FORWARDED_FOR"] = "6.6.6.6, not-an-address, 10.0.0.9"
    assert client_address(request) == "10.0.0.2"
