"""Vendor keys at rest: encrypted, rotatable, never shown."""

from __future__ import annotations

import io

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from tests.factories import VendorAccountFactory
from vendors.crypto import decrypt_secret
from vendors.http import ApiKey
from vendors.models import VendorAccount
from vendors.revrag.client import RevragClient

PLAINTEXT_KEYS = ["sk_live_first_key_1234", "sk-revor-second-key-5678", "free-form-key-9012"]


def _raw_rows() -> list[tuple[str, str]]:
    table = VendorAccount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT api_key_encrypted, webhook_secret_encrypted FROM {table}")  # noqa: S608
        return list(cursor.fetchall())


def test_it_never_stores_a_plaintext_key(db):
    for key in PLAINTEXT_KEYS:
        account = VendorAccountFactory(api_key=key)
        account.set_webhook_secret("whsec_" + key)
        account.save()

    dump = repr(_raw_rows())

    for key in PLAINTEXT_KEYS:
        assert key not in dump
        assert key[-8:] not in dump


def test_it_re_encrypts_every_secret_with_the_newest_key(db, settings):
    accounts = []
    for key in PLAINTEXT_KEYS:
        account = VendorAccountFactory(api_key=key)
        account.set_webhook_secret("whsec_" + key)
        account.save()
        accounts.append(account)
    old_keys = list(settings.CALLOPS_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.CALLOPS_ENCRYPTION_KEYS = [new_key, *old_keys]

    output = io.StringIO()
    call_command("rotate_vendor_keys", stdout=output)

    assert "3 vendor account(s)" in output.getvalue()
    newest_only = Fernet(new_key.encode())
    for account, key in zip(accounts, PLAINTEXT_KEYS, strict=True):
        account.refresh_from_db()
        assert account.get_api_key() == key
        assert account.get_webhook_secret() == "whsec_" + key
        assert newest_only.decrypt(account.api_key_encrypted.encode()).decode() == key
        assert newest_only.decrypt(account.webhook_secret_encrypted.encode()).decode() == (
            "whsec_" + key
        )
    # With the old key retired, every stored secret still reads.
    settings.CALLOPS_ENCRYPTION_KEYS = [new_key]
    assert sorted(decrypt_secret(row[0]) for row in _raw_rows()) == sorted(PLAINTEXT_KEYS)


def test_it_keeps_the_key_out_of_every_repr():
    key = "sk_live_secret_value_abcd"
    client = RevragClient(base_url="https://api.revrag.ai", api_key=key)

    shown = " ".join(
        [
            repr(client),
            repr(client.http),
            repr(client.http.session),
            repr(client.http.session.auth),
            repr(ApiKey(key)),
            str(ApiKey(key)),
        ]
    )

    assert key not in shown
    assert "abcd" in repr(ApiKey(key))
