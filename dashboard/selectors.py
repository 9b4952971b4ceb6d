"""Reads for the overview, settings and analytics pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from calls.models import LIVE_STATES, Call
from campaigns.models import ACTIVE_CAMPAIGN_STATUSES, Campaign
from contacts.models import Contact
from dashboard.models import Heartbeat
from vendors.models import VendorAccount


@dataclass(frozen=True)
class OverviewCounts:
    calls_today: int
    live_calls: int
    active_campaigns: int
    contacts: int
    vendor_accounts: int
    worker_seen_at: datetime | None

    @property
    def is_empty(self) -> bool:
        return not (self.calls_today or self.live_calls or self.active_campaigns or self.contacts)

    @property
    def worker_alive(self) -> bool:
        return self.worker_seen_at is not None and (
            timezone.now() - self.worker_seen_at < timedelta(minutes=2)
        )


def overview_counts() -> OverviewCounts:
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    calls = Call.objects.aggregate(
        today=Count("id", filter=Q(created_at__gte=start_of_day)),
        live=Count("id", filter=Q(state__in=LIVE_STATES)),
    )
    heartbeat = Heartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    return OverviewCounts(
        calls_today=calls["today"],
        live_calls=calls["live"],
        active_campaigns=Campaign.objects.filter(status__in=ACTIVE_CAMPAIGN_STATUSES).count(),
        contacts=Contact.objects.count(),
        vendor_accounts=VendorAccount.objects.filter(is_active=True).count(),
        worker_seen_at=heartbeat,
    )


def calls_by_state_and_outcome(*, since: datetime) -> list[dict[str, object]]:
    return list(
        Call.objects.filter(created_at__gte=since)
        .values("state", "outcome")
        .annotate(count=Count("id"))
        .order_by("state", "outcome")
    )
