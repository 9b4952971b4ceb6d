"""How an account's webhooks are doing: deliveries, delay, duplicates, refusals, failures, and
accounts gone quiet while their calls are live.

The figures come from the inbox rows themselves, plus a per-hour tally of what leaves no row
(a redelivery, a refused signature). The tally is written only on those paths, so a normal
delivery costs nothing more. Delay is the vendor's own send time (the signed timestamp
header, or Revont's envelope `timestamp`) to the moment callops stored the delivery.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from calls.models import LIVE_STATES, Call, WebhookEvent, WebhookStatus, WebhookTally
from vendors.models import VendorAccount, VendorKind

# The deliveries whose delay is measured: the latest ones of the last day, at most this many.
DELAY_SAMPLE = 2000
_TIMESTAMP_HEADERS = ("x-webhook-timestamp", "webhook-timestamp")


def quiet_minutes() -> int:
    return getattr(settings, "CALLOPS_WEBHOOK_QUIET_MINUTES", 15)


def tally_delivery(*, account_id: int, duplicate: bool) -> None:
    """Counts a redelivery (duplicate) or a refused delivery in its hour."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    field = "duplicates" if duplicate else "rejected"
    tallies = WebhookTally.objects.filter(vendor_account_id=account_id, hour=hour)
    if tallies.update(**{field: F(field) + 1}):
        return
    try:
        with transaction.atomic():
            WebhookTally.objects.create(vendor_account_id=account_id, hour=hour, **{field: 1})
    except IntegrityError:  # another delivery made the hour's row first
        tallies.update(**{field: F(field) + 1})


def _sent_at(headers: Any, body: str, kind: str) -> datetime | None:
    """When the vendor sent the delivery, from what it signed or wrote; None when unknown."""
    if isinstance(headers, dict):
        for name in _TIMESTAMP_HEADERS:
            value = headers.get(name)
            if isinstance(value, str) and value.isdigit():
                return datetime.fromtimestamp(int(value), UTC)
    if kind == VendorKind.REVONT:
        try:
            stamp = json.loads(body).get("timestamp")
            return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except (ValueError, AttributeError):
            return None
    return None


@dataclass(frozen=True)
class WebhookHealth:
    last_hour: int
    last_day: int
    failed: int
    duplicates: int
    rejected: int
    last_delivery_at: datetime | None
    delay_median: float | None
    delay_p95: float | None
    delay_measured: int

    @property
    def duplicate_rate(self) -> float | None:
        seen = self.last_day + self.duplicates
        return self.duplicates / seen if seen else None

    @property
    def duplicate_percent(self) -> str:
        rate = self.duplicate_rate
        return "—" if rate is None else f"{rate * 100:.1f}"

    @property
    def per_hour(self) -> float:
        return self.last_day / 24


def webhook_health(*, account: VendorAccount, now: datetime | None = None) -> WebhookHealth:
    """The account's webhook figures over the last 24 hours."""
    now = now or timezone.now()
    day_ago, hour_ago = now - timedelta(days=1), now - timedelta(hours=1)
    events = WebhookEvent.objects.filter(vendor_account=account)
    counts = events.filter(received_at__gte=day_ago).aggregate(
        last_day=Count("id"),
        last_hour=Count("id", filter=Q(received_at__gte=hour_ago)),
        failed=Count("id", filter=Q(status=WebhookStatus.FAILED)),
    )
    tallies = WebhookTally.objects.filter(vendor_account=account, hour__gte=day_ago)
    duplicates = rejected = 0
    for tally in tallies:
        duplicates += tally.duplicates
        rejected += tally.rejected
    delays = []
    sample = events.filter(received_at__gte=day_ago).order_by("-received_at")
    with_body = account.kind == VendorKind.REVONT
    fields = ("received_at", "headers", "body") if with_body else ("received_at", "headers")
    for row in sample.values_list(*fields)[:DELAY_SAMPLE]:
        sent = _sent_at(row[1], row[2] if with_body else "", account.kind)
        if sent is not None:
            delays.append(max(0.0, (row[0] - sent).total_seconds()))
    return WebhookHealth(
        last_hour=counts["last_hour"],
        last_day=counts["last_day"],
        failed=counts["failed"],
        duplicates=duplicates,
        rejected=rejected,
        last_delivery_at=events.order_by("-received_at")
        .values_list("received_at", flat=True)
        .first(),
        delay_median=statistics.median(delays) if delays else None,
        delay_p95=_p95(delays),
        delay_measured=len(delays),
    )


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


@dataclass(frozen=True)
class QuietAccount:
    account: VendorAccount
    live_calls: int
    last_delivery_at: datetime | None
    quiet_minutes: int


def quiet_webhook_accounts(*, now: datetime | None = None) -> list[QuietAccount]:
    """Accounts with calls live for longer than the quiet time and no delivery within it: the
    vendor's webhooks may have stopped reaching callops (the calls are then only polled)."""
    now = now or timezone.now()
    minutes = quiet_minutes()
    since = now - timedelta(minutes=minutes)
    live = (
        Call.objects.filter(state__in=LIVE_STATES, created_at__lt=since)
        .values("vendor_account")
        .annotate(live=Count("id"))
    )
    live_by_account = {row["vendor_account"]: row["live"] for row in live}
    if not live_by_account:
        return []
    quiet = []
    # The newest delivery of each account, one index probe each (not a scan of the inbox).
    newest = WebhookEvent.objects.filter(vendor_account=OuterRef("pk")).order_by("-received_at")
    accounts = VendorAccount.objects.filter(pk__in=live_by_account, is_active=True).annotate(
        last=Subquery(newest.values("received_at")[:1])
    )
    for account in accounts.order_by("name"):
        if account.last is None or account.last < since:
            quiet.append(QuietAccount(account, live_by_account[account.pk], account.last, minutes))
    return quiet
