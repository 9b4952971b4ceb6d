"""Reads for the overview, settings and analytics pages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Q
from django.utils import timezone

from accounts.roles import Role
from calls.models import LIVE_STATES, TERMINAL_STATES, Call, CallState, WebhookEvent, WebhookStatus
from calls.state import CONNECTED_OUTCOMES
from campaigns.models import ACTIVE_CAMPAIGN_STATUSES, Campaign
from contacts.models import Contact
from dashboard.models import Heartbeat
from dashboard.workers import DIAL_WORKER_HEARTBEAT, MAIN_WORKER_HEARTBEAT, WORKER_HEARTBEATS
from vendors.models import RateWindowSource, VendorAccount
from vendors.ratelimit import DEFAULT_GROUP, RateLimit, configured_limits


@dataclass(frozen=True)
class DayFigures:
    calls: int
    connected: int
    avg_duration: float | None

    @property
    def connected_rate(self) -> float | None:
        return 100.0 * self.connected / self.calls if self.calls else None


@dataclass(frozen=True)
class Kpi:
    label: str
    today: float | None
    yesterday: float | None
    unit: str = ""
    digits: int = 0

    @property
    def delta(self) -> float | None:
        if self.today is None or self.yesterday is None:
            return None
        return self.today - self.yesterday

    @property
    def trend(self) -> str:
        delta = self.delta
        if delta is None or abs(delta) < 10**-self.digits / 2:
            return "same"
        return "up" if delta > 0 else "down"


@dataclass(frozen=True)
class CampaignProgress:
    campaign: Campaign
    total: int
    finished: int

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 0


@dataclass(frozen=True)
class Attention:
    failed_today: int
    stale: int
    webhooks_failed: int
    today: date

    @property
    def any(self) -> bool:
        return bool(self.failed_today or self.stale or self.webhooks_failed)


@dataclass(frozen=True)
class OverviewCounts:
    calls_today: int
    live_calls: int
    active_campaigns: int
    contacts: int
    vendor_accounts: int
    worker_seen_at: datetime | None
    dial_worker_seen_at: datetime | None = None
    kpis: tuple[Kpi, ...] = ()
    live: tuple[Call, ...] = ()
    campaigns: tuple[CampaignProgress, ...] = ()
    attention: Attention | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.calls_today or self.live_calls or self.active_campaigns or self.contacts)

    @property
    def worker_alive(self) -> bool:
        return _seen_lately(self.worker_seen_at)

    @property
    def dial_worker_alive(self) -> bool:
        return _seen_lately(self.dial_worker_seen_at)


def _seen_lately(seen_at: datetime | None) -> bool:
    """A heartbeat beat sends every 30 s, seen within the last two minutes."""
    return seen_at is not None and timezone.now() - seen_at < timedelta(minutes=2)


LIVE_LIST_SIZE = 10
CAMPAIGN_LIST_SIZE = 10


def _day_figures(calls: dict[str, Any], prefix: str) -> DayFigures:
    return DayFigures(
        calls=calls[f"{prefix}_calls"],
        connected=calls[f"{prefix}_connected"],
        avg_duration=calls[f"{prefix}_duration"],
    )


def overview_counts() -> OverviewCounts:
    """The overview in a handful of queries: today vs yesterday in one aggregate."""
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = start_of_day - timedelta(days=1)
    today_q = Q(created_at__gte=start_of_day)
    yesterday_q = Q(created_at__gte=yesterday, created_at__lt=start_of_day)
    connected_q = Q(outcome__in=CONNECTED_OUTCOMES)
    calls = Call.objects.aggregate(
        today=Count("id", filter=today_q),
        live=Count("id", filter=Q(state__in=LIVE_STATES)),
        stale=Count("id", filter=Q(is_stale=True)),
        failed_today=Count("id", filter=today_q & Q(state=CallState.FAILED)),
        today_calls=Count("id", filter=today_q),
        today_connected=Count("id", filter=today_q & connected_q),
        today_duration=Avg("duration_seconds", filter=today_q),
        yesterday_calls=Count("id", filter=yesterday_q),
        yesterday_connected=Count("id", filter=yesterday_q & connected_q),
        yesterday_duration=Avg("duration_seconds", filter=yesterday_q),
    )
    today, before = _day_figures(calls, "today"), _day_figures(calls, "yesterday")
    kpis = (
        Kpi("calls today", today.calls, before.calls),
        Kpi("connected rate", today.connected_rate, before.connected_rate, "%", 1),
        Kpi("average duration", today.avg_duration, before.avg_duration, " s", 0),
    )
    live = tuple(
        Call.objects.filter(state__in=LIVE_STATES)
        .select_related("agent", "contact", "campaign")
        .order_by("-created_at", "-id")[:LIVE_LIST_SIZE]
    )
    active = Campaign.objects.filter(status__in=ACTIVE_CAMPAIGN_STATUSES)
    campaigns = tuple(
        CampaignProgress(campaign=campaign, total=campaign.call_total, finished=campaign.finished)
        for campaign in active.annotate(
            call_total=Count("calls"),
            finished=Count("calls", filter=Q(calls__state__in=TERMINAL_STATES)),
        ).order_by("-created_at", "-id")[:CAMPAIGN_LIST_SIZE]
    )
    heartbeats = dict(
        Heartbeat.objects.filter(name__in=WORKER_HEARTBEATS).values_list("name", "seen_at")
    )
    return OverviewCounts(
        calls_today=calls["today"],
        live_calls=calls["live"],
        active_campaigns=active.count(),
        contacts=Contact.objects.count(),
        vendor_accounts=VendorAccount.objects.filter(is_active=True).count(),
        worker_seen_at=heartbeats.get(MAIN_WORKER_HEARTBEAT),
        dial_worker_seen_at=heartbeats.get(DIAL_WORKER_HEARTBEAT),
        kpis=kpis,
        live=live,
        campaigns=campaigns,
        attention=Attention(
            failed_today=calls["failed_today"],
            stale=calls["stale"],
            webhooks_failed=WebhookEvent.objects.filter(status=WebhookStatus.FAILED).count(),
            today=start_of_day.date(),
        ),
    )


# --------------------------------------------------------------------------- settings: vendors


@dataclass(frozen=True)
class GroupBudget:
    group: str
    left: int
    usable: int
    window_seconds: float
    # None: no request counted yet, or the window is over (the whole budget is there).
    window_ends_at: datetime | None
    counted: bool


@dataclass(frozen=True)
class VendorHealth:
    account: VendorAccount
    budgets: list[GroupBudget]
    paused_until: datetime | None
    # After a 429 the key is paused until the vendor's time (shown while it lasts).
    recent_429_pause: datetime | None
    rate_limited_last_hour: int = 0
    last_success_at: datetime | None = None

    @property
    def default_budget(self) -> GroupBudget | None:
        for budget in self.budgets:
            if budget.group == DEFAULT_GROUP:
                return budget
        return self.budgets[0] if self.budgets else None

    @property
    def other_budgets(self) -> list[GroupBudget]:
        default = self.default_budget
        return [budget for budget in self.budgets if budget is not default]


def _group_budgets(account: VendorAccount, now: datetime) -> list[GroupBudget]:
    try:
        limits = configured_limits(account)
    except ValueError:
        limits = {}
    rows = {row.group: row for row in account.rate_budgets.all()}
    now_unix = now.timestamp()
    budgets = []
    for group, configured in limits.items():
        row = rows.get(group)
        limit = configured
        if row is not None and (row.vendor_limit or row.vendor_window_seconds):
            limit = RateLimit(
                min(configured.limit, row.vendor_limit or configured.limit),
                row.vendor_window_seconds or configured.window_seconds,
            )
        in_window = (
            row is not None
            and row.window_source != RateWindowSource.UNKNOWN
            and row.window_ends_at > now_unix
        )
        used = row.used if row is not None and in_window else 0
        budgets.append(
            GroupBudget(
                group=group,
                left=max(0, limit.usable - used),
                usable=limit.usable,
                window_seconds=limit.window_seconds,
                window_ends_at=(
                    datetime.fromtimestamp(row.window_ends_at, tz=UTC)
                    if row is not None and in_window
                    else None
                ),
                counted=row is not None,
            )
        )
    return budgets


def vendor_health(account: VendorAccount, *, now: datetime | None = None) -> VendorHealth:
    now = now or timezone.now()
    paused = account.rate_paused_until
    return VendorHealth(
        account=account,
        budgets=_group_budgets(account, now),
        paused_until=paused if paused is not None and paused > now else None,
        recent_429_pause=paused
        if paused is not None and paused > now - timedelta(hours=1)
        else None,
        rate_limited_last_hour=account.rate_limited_last_hour(now),
        last_success_at=account.last_success_at,
    )


def vendor_accounts_with_health() -> list[VendorHealth]:
    now = timezone.now()
    accounts = VendorAccount.objects.prefetch_related("rate_budgets").order_by("name")
    return [vendor_health(account, now=now) for account in accounts]


def vendor_account_get(*, pk: int) -> VendorAccount:
    return VendorAccount.objects.prefetch_related("rate_budgets").get(pk=pk)


# ----------------------------------------------------------------------------- settings: users


ADMIN_Q = Q(is_superuser=True) | Q(groups__name=Role.ADMIN.value)


@dataclass(frozen=True)
class UserRow:
    user: Any
    role: Role | None


def user_list() -> list[UserRow]:
    users = get_user_model().objects.prefetch_related("groups").order_by("username")
    return [UserRow(user=user, role=primary_role_of(user)) for user in users]


def primary_role_of(user: Any) -> Role | None:
    """The user's role even when the account is deactivated (roles_of says none then)."""
    if user.is_superuser:
        return Role.ADMIN
    names = {group.name for group in user.groups.all()}
    for role in (Role.ADMIN, Role.MANAGER, Role.OPERATOR):
        if role.value in names:
            return role
    return None


def active_admin_count(*, excluding: Any = None) -> int:
    admins = get_user_model().objects.filter(ADMIN_Q, is_active=True)
    if excluding is not None:
        admins = admins.exclude(pk=excluding.pk)
    return admins.distinct().count()


def user_get(*, pk: int) -> Any:
    return get_user_model().objects.prefetch_related("groups").get(pk=pk)


# ---------------------------------------------------------------------------- settings: tokens


# Heartbeat.name is at most 50 characters; longer worker names are hashed.
_HEARTBEAT_NAME_LENGTH = 50


def worker_probe_name(node: str) -> str:
    """The heartbeat row where the worker `node` answers its liveness probe."""
    name = f"probe:{node}"
    if len(name) <= _HEARTBEAT_NAME_LENGTH:
        return name
    return "probe:" + hashlib.sha256(node.encode()).hexdigest()[: _HEARTBEAT_NAME_LENGTH - 6]


def worker_probe_answered(*, node: str) -> bool:
    """Whether `node` answered since its probe was last sent (sending forgets the answer)."""
    return Heartbeat.objects.filter(name=worker_probe_name(node)).exists()
