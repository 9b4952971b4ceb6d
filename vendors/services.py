"""Making a client for a stored vendor account, and checking that the account works."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction
from vendors.base import VendorClient
from vendors.breaker import AccountBreaker
from vendors.callcov.client import CallCovClient
from vendors.crypto import SecretUnreadable
from vendors.errors import VendorError
from vendors.http import ApiKey, RetryPolicy
from vendors.models import VendorAccount, VendorKind
from vendors.ratelimit import AccountRateBudget
from vendors.revont.client import RevontClient
from vendors.revor.client import RevorClient
from vendors.revrag.client import RevragClient
from vendors.voice_platform.client import VoicePlatformClient

CLIENT_CLASSES: dict[str, type[VendorClient]] = {
    VendorKind.REVRAG: RevragClient,
    VendorKind.VOICE_PLATFORM: VoicePlatformClient,
    VendorKind.REVONT: RevontClient,
    VendorKind.CALLCOV: CallCovClient,
    VendorKind.REVOR: RevorClient,
}

# For requests a person is waiting on (a connection check, ending a live call): one attempt,
# no long wait for budget; the person sees the vendor's answer at once and can try again.
INTERACTIVE_RETRY_POLICY = RetryPolicy(max_attempts=1, max_wait=5.0)


def vendor_client_for(account: VendorAccount, *, retry: RetryPolicy | None = None) -> VendorClient:
    """The client of the account's vendor, sharing the account's database rate budget and
    circuit breaker with every other process."""
    client_class = CLIENT_CLASSES[account.kind]
    return client_class(
        base_url=account.base_url,
        api_key=ApiKey(account.get_api_key()),
        budget=AccountRateBudget(account),
        breaker=AccountBreaker(account),
        retry=retry,
    )


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def _cheapest_call(client: VendorClient) -> Callable[[], object]:
    """The cheapest authenticated read each vendor offers."""
    if isinstance(client, RevragClient):
        return client.list_agents
    if isinstance(client, VoicePlatformClient):
        return client.list_agents
    if isinstance(client, RevontClient):
        return lambda: client.list_calls(limit=1)
    if isinstance(client, CallCovClient):
        return lambda: client.list_analyses(limit=1)
    if isinstance(client, RevorClient):
        return client.list_accounts
    raise TypeError(f"No connection check for {type(client).__name__}")


def check_connection(account: VendorAccount) -> ConnectionCheck:
    """Make one authenticated call and record the outcome on the account.

    A failure's message is the vendor's own text ("Invalid API key"), so an admin sees what
    the vendor says rather than our paraphrase.
    """
    try:
        with vendor_client_for(account, retry=INTERACTIVE_RETRY_POLICY) as client:
            _cheapest_call(client)()
        check = ConnectionCheck(ok=True, message="Connected.")
    except SecretUnreadable:
        check = ConnectionCheck(
            ok=False, message="The stored key cannot be decrypted with the configured keys."
        )
    except VendorError as error:
        check = ConnectionCheck(ok=False, message=error.message)
    checked_at = timezone.now()
    max_length = VendorAccount._meta.get_field("last_check_message").max_length or 500
    VendorAccount.objects.filter(pk=account.pk).update(
        last_check_at=checked_at,
        last_check_ok=check.ok,
        last_check_message=check.message[:max_length],
    )
    account.last_check_at = checked_at
    account.last_check_ok = check.ok
    account.last_check_message = check.message[:max_length]
    return check


def vendor_limits_set(
    *,
    account: VendorAccount,
    failure_threshold: int,
    cooldown_seconds: int,
    max_live_calls: int | None,
    request: HttpRequest | None = None,
) -> VendorAccount:
    """Change the account's circuit breaker settings and live-call limit (audited). Workers
    read them with each new client, so the next request uses them."""
    values = {
        "breaker_failure_threshold": failure_threshold,
        "breaker_cooldown_seconds": cooldown_seconds,
        "max_live_calls": max_live_calls,
    }
    with transaction.atomic():
        locked = VendorAccount.objects.select_for_update().get(pk=account.pk)
        changed = {
            field: [getattr(locked, field), value]
            for field, value in values.items()
            if getattr(locked, field) != value
        }
        if not changed:
            return locked
        for field in changed:
            setattr(locked, field, values[field])
        locked.save(update_fields=[*changed, "updated_at"])
        audit_record(
            action=AuditAction.VENDOR_ACCOUNT_UPDATED,
            request=request,
            target=f"vendor account {locked.name}",
            detail={"account_id": locked.pk, "changed": sorted(changed), "values": changed},
        )
    return locked
