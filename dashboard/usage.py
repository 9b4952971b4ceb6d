"""Usage and estimated cost of a vendor account: callops' own records for this month, and the
vendor's own summary where it has one (CallCov's GET /billing/usage)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from calls.models import Call, CallState, PostCallStep, StepStatus
from vendors.callcov.client import CallCovClient
from vendors.callcov.schemas import Usage
from vendors.crypto import SecretUnreadable
from vendors.errors import VendorError
from vendors.models import CALLING_KINDS, VendorAccount, VendorKind
from vendors.pricing import estimated_cost, recorded_minutes
from vendors.services import INTERACTIVE_RETRY_POLICY, vendor_client_for

# Vendors whose calls callops records: the AI calls it places, and Revont's imported records.
KINDS_WITH_CALLS = frozenset({*CALLING_KINDS, VendorKind.REVONT})


def month_start(now: datetime | None = None) -> datetime:
    """Midnight on the first of this month, in the display time zone (TIME_ZONE)."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class AccountUsage:
    since: datetime
    calls: int
    ended_calls: int
    seconds: int
    price_per_minute: Decimal | None
    currency: str
    records_calls: bool
    # Post-call steps (analyses, write-backs, follow-ups) sent through this account.
    steps: int = 0
    steps_done: int = 0

    @property
    def minutes(self) -> Decimal:
        return recorded_minutes(self.seconds)

    @property
    def estimated_cost(self) -> Decimal | None:
        return estimated_cost(seconds=self.seconds, price_per_minute=self.price_per_minute)


def account_usage(account: VendorAccount, *, now: datetime | None = None) -> AccountUsage:
    """Calls created this month on the account and the minutes they recorded, and the
    post-call steps (CallCov analyses, Revor follow-ups, write-backs) sent through it."""
    since = month_start(now)
    figures = Call.objects.filter(vendor_account=account, created_at__gte=since).aggregate(
        calls=Count("id"),
        ended=Count("id", filter=Q(state=CallState.ENDED)),
        seconds=Sum("duration_seconds"),
    )
    steps = PostCallStep.objects.filter(vendor_account=account, created_at__gte=since).aggregate(
        total=Count("id"), done=Count("id", filter=Q(status=StepStatus.DONE))
    )
    return AccountUsage(
        steps=steps["total"],
        steps_done=steps["done"],
        since=since,
        calls=figures["calls"],
        ended_calls=figures["ended"],
        seconds=figures["seconds"] or 0,
        price_per_minute=account.price_per_minute,
        currency=settings.CALLOPS_CURRENCY,
        records_calls=account.kind in KINDS_WITH_CALLS,
    )


@dataclass(frozen=True)
class VendorUsage:
    """The vendor's own summary, or why it could not be read (`error`)."""

    usage: Usage | None
    error: str = ""

    @property
    def amount_due(self) -> Decimal | None:
        cents = self.usage.amount_due_cents if self.usage else None
        return Decimal(cents) / 100 if cents is not None else None


def vendor_usage(account: VendorAccount) -> VendorUsage | None:
    """CallCov's usage summary (one attempt: an admin is waiting); None for other vendors."""
    if account.kind != VendorKind.CALLCOV:
        return None
    try:
        with vendor_client_for(account, retry=INTERACTIVE_RETRY_POLICY) as client:
            assert isinstance(client, CallCovClient)  # noqa: S101 - the kind says so
            return VendorUsage(usage=client.get_usage())
    except VendorError as exc:
        return VendorUsage(usage=None, error=exc.message or str(exc))
    except SecretUnreadable:
        return VendorUsage(usage=None, error="The stored key cannot be decrypted.")
