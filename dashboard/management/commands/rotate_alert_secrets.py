"""`manage.py rotate_alert_secrets`: re-encrypt every alert rule's webhook signing secret with
the newest key, beside `rotate_vendor_keys` (vendors/ cannot know about dashboard's rules).

Run both after putting a new key first in CALLOPS_ENCRYPTION_KEYS, then drop the old key. Safe
to run twice and while workers run: each rule is re-encrypted with its row locked.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboard.models import AlertRule
from vendors.crypto import SecretUnreadable, reencrypt_secret


class Command(BaseCommand):
    help = "Re-encrypt every alert rule's webhook signing secret with the newest encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        unreadable: list[str] = []
        rules = AlertRule.objects.exclude(webhook_secret_encrypted="")
        for rule_id in rules.values_list("pk", flat=True):
            with transaction.atomic():
                rule = AlertRule.objects.select_for_update().get(pk=rule_id)
                try:
                    rule.webhook_secret_encrypted = reencrypt_secret(rule.webhook_secret_encrypted)
                except SecretUnreadable:
                    unreadable.append(rule.name)
                    continue
                rule.save(update_fields=["webhook_secret_encrypted"])
                rotated += 1
        self.stdout.write(f"Re-encrypted the signing secrets of {rotated} alert rule(s).")
        if unreadable:
            raise CommandError(
                "No configured key can read the signing secret of: " + ", ".join(sorted(unreadable))
            )
