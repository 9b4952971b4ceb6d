"""Settings → API tokens: shown once, stored hashed, listed with last use, revoked with audit."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.authentication import hash_secret, split_token
from accounts.models import ApiToken, AuditAction, AuditEvent
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"cop_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def test_it_shows_a_new_token_once_and_stores_only_its_hash(client_as):
    admin = client_as("admin")
    response = admin.post(
        reverse("settings_token_new"), {"name": "CRM sync", "role": "manager", "expires_on": ""}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    plaintext = TOKEN_RE.search(response.content.decode()).group(0)
    token = ApiToken.objects.get()
    prefix, secret = split_token(plaintext)
    assert token.prefix == prefix
    assert token.secret_hash == hash_secret(secret)
    assert token.role == "manager"
    assert token.created_by.username == "adele"
    listing = admin.get(reverse("settings_tokens")).content.decode()
    assert secret not in listing
    assert f"cop_{prefix}_" in listing
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_CREATED)
    assert secret not in str(event.detail)


def test_it_refuses_an_expiry_in_the_past(client_as):
    response = client_as("admin").post(
        reverse("settings_token_new"),
        {"name": "old", "role": "operator", "expires_on": "2000-01-01"},
    )
    assert "today or a later day" in " ".join(response.context["form"].errors["expires_on"])
    assert not ApiToken.objects.exists()


def test_it_revokes_a_token_after_confirming_and_audits_it(client_as):
    token = ApiTokenFactory()
    admin = client_as("admin")
    url = reverse("settings_token_revoke", kwargs={"pk": token.pk})
    assert b"Revoke" in admin.get(url).content
    token.refresh_from_db()
    assert token.revoked_at is None

    assert admin.post(url).status_code == 302
    admin.post(url)  # twice changes nothing
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED).count() == 1
