"""`manage.py rotate_vendor_keys`: re-encrypt every stored vendor secret with the newest key.

Put the new key first in CALLOPS_ENCRYPTION_KEYS (keeping the old one after it), deploy, run
this, then drop the old key. Safe to run twice and while workers run: each account is
re-encrypted in its own short transaction with the row locked.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from vendors.crypto import SecretUnreadable, reencrypt_secret
from vendors.models import VendorAccount

ENCRYPTED_FIELDS = (
    "api_key_encrypted",
    "webhook_secret_encrypted",
    "previous_webhook_secret_encrypted",
)


class Command(BaseCommand):
    help = "Re-encrypt every vendor API key and webhook secret with the newest encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        unreadable: list[str] = []
        for account_id in VendorAccount.objects.values_list("pk", flat=True):
            with transaction.atomic():
                account = VendorAccount.objects.select_for_update().get(pk=account_id)
                try:
                    for field in ENCRYPTED_FIELDS:
                        if getattr(account, field):
                            setattr(account, field, reencrypt_secret(getattr(account, field)))
                except SecretUnreadable:
                    unreadable.append(account.name)
                    continue
                account.save(update_fields=list(ENCRYPTED_FIELDS))
                rotated += 1
        self.stdout.write(f"Re-encrypted the secrets of {rotated} vendor account(s).")
        if unreadable:
            raise CommandError(
                "No configured key can read the secrets of: " + ", ".join(sorted(unreadable))
            )
