"""Security checks run in CI: deploy checks, no plaintext secret at rest, headers and cookies."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.authentication import split_token
from accounts.roles import Role
from dashboard import demo, services
from tests.conftest import PASSWORD
from vendors.models import VendorAccount, VendorKind

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_KEYS = {
    VendorKind.REVRAG: "sk_live_SECRET123456",
    VendorKind.VOICE_PLATFORM: "vp_live_SECRET223456",
    VendorKind.REVONT: "rvt_SECRET323456",
    VendorKind.CALLCOV: "sk_test_SECRET423456",
    VendorKind.REVOR: "sk-revor-SECRET523456",
}
WEBHOOK_SECRET = "whsec_SECRET623456"


def production_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("CALLOPS_", "DJANGO_", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS")
        )
    }
    env.update(
        SECRET_KEY="x" * 20 + Fernet.generate_key().decode(),
        CALLOPS_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        CALLOPS_HTTPS="true",
        ALLOWED_HOSTS="callops.example.com",
        DJANGO_SETTINGS_MODULE="dashboard.settings",
    )
    env.update(extra)
    return env


def test_it_passes_the_deploy_checks_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=production_env(CALLOPS_VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_fails_the_deploy_checks_without_https(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=production_env(CALLOPS_HTTPS="false", CALLOPS_VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "callops.W003" in result.stderr + result.stdout


SETTINGS_PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name) for name in (
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE", "SESSION_COOKIE_AGE",
    "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY", "X_FRAME_OPTIONS", "CALLOPS_API_RATE")}))
"""


def probe_settings(env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_makes_cookies_secure_under_https(tmp_path):
    values = probe_settings(production_env(CALLOPS_VAR_DIR=str(tmp_path)))
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert values["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_AGE"] == 12 * 3600
    assert values["CALLOPS_API_RATE"] == "600/min"


def test_it_refuses_a_malformed_api_rate(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=REPO_ROOT,
        env=production_env(CALLOPS_VAR_DIR=str(tmp_path), CALLOPS_API_RATE="lots"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CALLOPS_API_RATE" in result.stderr


@pytest.mark.django_db
def test_it_sends_a_strict_csp_that_htmx_works_under(client_as):
    response = client_as("admin").get(reverse("settings"))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    # 'self', plus a nonce only on a page that used one (django-csp adds it when read).
    assert re.fullmatch(r"'self'( 'nonce-[^']+')?", directives["script-src"])
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"
    page = response.content.decode()
    # htmx comes from the installed package as a file; no inline script or handler anywhere.
    assert re.search(r'<script[^>]+src="[^"]*htmx[^"]*"', page)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+=", page)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_it_expires_the_session_after_the_configured_hours(make_user):
    make_user("adele", Role.ADMIN)
    client = Client()
    client.post(reverse("login"), {"username": "adele", "password": PASSWORD})
    cookie = client.cookies["sessionid"]
    assert int(cookie["max-age"]) == 12 * 3600
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def _every_row_as_text() -> str:
    """Every value of every table, as text (works the same on SQLite and PostgreSQL)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def _sqlite_file_bytes() -> bytes:
    name = Path(connection.settings_dict["NAME"])
    return b"".join(path.read_bytes() for path in (name, Path(f"{name}-wal")) if path.exists())


@pytest.mark.django_db(transaction=True)
def test_it_keeps_no_plaintext_key_or_token_at_rest(settings, tmp_path, caplog, make_user):
    settings.VAR_DIR = tmp_path
    caplog.set_level(logging.DEBUG)
    demo.seed_users()
    demo.seed_contacts()
    demo.seed_sandbox_accounts(
        [
            {"vendor": kind.value, "base_url": f"https://{kind.value}.example.com", "api_key": key}
            for kind, key in FAKE_KEYS.items()
        ]
    )
    account = VendorAccount.objects.get(kind=VendorKind.REVRAG)
    account.set_webhook_secret(WEBHOOK_SECRET)
    account.save()
    creator = make_user("tokenmaker", Role.ADMIN)
    created = services.api_token_create(name="CI", role=Role.ADMIN, created_by=creator)
    # Using the token writes its last use: still no plaintext anywhere.
    assert (
        Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {created.plaintext}").status_code
        == 200
    )
    # The secret itself may contain "_": take it the way the authenticator does.
    _prefix, secret_part = split_token(created.plaintext)

    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    places = {"dumpdata": dump.getvalue(), "rows": _every_row_as_text(), "logs": caplog.text}
    if connection.vendor == "sqlite":
        places["file"] = _sqlite_file_bytes().decode("latin-1")
    secrets = [*FAKE_KEYS.values(), WEBHOOK_SECRET, created.plaintext, secret_part]
    leaks = [
        (where, secret) for where, text in places.items() for secret in secrets if secret in text
    ]
    assert leaks == []
    # The check would have found them: the masks (last four characters) are there.
    assert "3456" in places["dumpdata"]
