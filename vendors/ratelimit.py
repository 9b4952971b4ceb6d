"""Rate budgets shared by every process on every machine, kept in the database.

Each (vendor account, endpoint group) has a fixed window of requests. A request takes one
unit in a short transaction (row lock on PostgreSQL; SQLite's IMMEDIATE transactions serialize
writers) and commits before the HTTP call; when the window is used up the caller sleeps until
the next one instead of earning a 429. Every answer corrects the budget from the vendor's own
headers, and a 429 pauses the whole key until the vendor's time.

Windows line up with the vendor's: the first request of a group is a lone probe whose answer
(X-RateLimit-Reset) says when the vendor's window ends; later windows end where the vendor's
do. A request sent within `guard_seconds` of a boundary may land on either side of it (network
latency, clock skew), so it is counted in both windows and sent only when both have room: the
budget never waits at a boundary unless one of the two windows is full.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.metrics import RATE_BUDGET_DEFERRALS, RATE_BUDGET_WAIT_SECONDS, RATE_BUDGET_WAITS
from vendors.errors import VendorRateLimited
from vendors.models import RateBudget, RateWindowSource, VendorAccount, VendorKind

Clock = Callable[[], float]
Sleep = Callable[[float], None]

DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window_seconds: float = 60.0

    @property
    def usable(self) -> int:
        """A little under the vendor's limit (2 %, at least one request) unless it is 1."""
        if self.limit <= 1:
            return self.limit
        return self.limit - max(1, self.limit // 50)


def _per_minute(limit: int) -> RateLimit:
    return RateLimit(limit, 60.0)


# The documented limits (and docs/vendor-readings.md where a document gives none).
DEFAULT_RATE_LIMITS: dict[str, dict[str, RateLimit]] = {
    # Undocumented; the project's reading is 60/min per key.
    VendorKind.REVRAG: {DEFAULT_GROUP: _per_minute(60)},
    # The document's table: per API key, each listed endpoint its own group.
    VendorKind.VOICE_PLATFORM: {
        DEFAULT_GROUP: _per_minute(100),
        "POST /v1/calls": _per_minute(30),
        "POST /v1/campaigns/{id}/launch": _per_minute(5),
        "POST /v1/campaigns/{id}/stop": _per_minute(5),
        "POST /v1/contacts": _per_minute(60),
        "PATCH /v1/contacts/{id}": _per_minute(60),
        "POST /v1/contacts/bulk": _per_minute(10),
        "POST /v1/webhooks": _per_minute(20),
        "POST /api/voice/customers/import": _per_minute(5),
        "POST /api/voice/models/speakers": _per_minute(5),
        "POST /api/voice/models/speakers/{name}/deploy": _per_minute(5),
        "POST /api/voice/models/speakers/{name}/dataset/sample": _per_minute(30),
        "POST /api/voice/calls/{uuid}/transfer": _per_minute(10),
        "POST /api/voice/calls/{uuid}/end": _per_minute(10),
        "GET /api/voice/calls/agent-availability": _per_minute(30),
        "POST /api/voice/calls/{uuid}/metadata": _per_minute(30),
        "POST /api/voice/agents": _per_minute(20),
        "POST /api/voice/flows": _per_minute(20),
    },
    # The Starter plan; a Professional account sets {"default": 500}.
    VendorKind.REVONT: {DEFAULT_GROUP: _per_minute(100)},
    VendorKind.CALLCOV: {DEFAULT_GROUP: _per_minute(100), "POST /analysis/": _per_minute(20)},
    # Undocumented numbers: 60/min per key (the account-wide 120/min binds only with 3+ keys).
    VendorKind.REVOR: {DEFAULT_GROUP: _per_minute(60)},
}


def configured_limits(account: VendorAccount) -> dict[str, RateLimit]:
    """The documented defaults of the account's vendor, overridden by `account.rate_limits`."""
    limits = dict(DEFAULT_RATE_LIMITS.get(account.kind, {DEFAULT_GROUP: _per_minute(60)}))
    for group, value in (account.rate_limits or {}).items():
        limits[str(group)] = _parse_override(value)
    return limits


def _parse_override(value: Any) -> RateLimit:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return _per_minute(value)
    if isinstance(value, Mapping):
        limit, window = value.get("limit"), value.get("window_seconds", 60)
        if isinstance(limit, int) and limit > 0 and isinstance(window, int | float) and window > 0:
            return RateLimit(limit, float(window))
    raise ValueError(
        f"A rate limit override must be requests per minute or {{limit, window_seconds}}, "
        f"not {value!r}"
    )


@dataclass(frozen=True)
class RateHeaders:
    """What one response says about the vendor's window."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    window_seconds: float | None = None
    retry_at: float | None = None

    @property
    def says_anything(self) -> bool:
        return self.limit is not None or self.remaining is not None or self.reset_at is not None


def parse_rate_headers(headers: Mapping[str, str], now: float) -> RateHeaders:
    """Read X-RateLimit-*, X-User-RateLimit-* (Revor) and Retry-After.

    With a key limit and an account limit the smaller remaining count is the one that binds.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    remaining_values = [
        value
        for value in (
            _int(lowered.get("x-ratelimit-remaining")),
            _int(lowered.get("x-user-ratelimit-remaining")),
        )
        if value is not None
    ]
    window_ms = _float(lowered.get("x-ratelimit-window-ms"))
    return RateHeaders(
        limit=_int(lowered.get("x-ratelimit-limit")),
        remaining=min(remaining_values) if remaining_values else None,
        reset_at=_float(lowered.get("x-ratelimit-reset")),
        window_seconds=window_ms / 1000 if window_ms else None,
        retry_at=_retry_after(lowered.get("retry-after"), now),
    )


def _retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` is seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    seconds = _float(value)
    if seconds is not None:
        return now + max(0.0, seconds)
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _int(value: str | None) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def unix_to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class AccountRateBudget:
    """The rate budgets of one vendor account. `clock` and `sleep` are injectable for tests."""

    # Longest a probe may hold the others back when its answer never comes.
    PROBE_TIMEOUT_SECONDS = 10.0
    # How often waiters look again while a probe is out.
    PROBE_POLL_SECONDS = 0.05
    # Answers whose reset time differs by less than this are about the same window.
    SAME_WINDOW_TOLERANCE_SECONDS = 0.5

    def __init__(
        self,
        account: VendorAccount,
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        guard_seconds: float = 0.25,
    ) -> None:
        self.account_id = account.pk
        self.vendor = account.kind
        self.limits = configured_limits(account)
        self.clock = clock
        self.sleep = sleep
        self.guard_seconds = guard_seconds
        self._row_ids: dict[str, int] = {}

    def group_for(self, endpoint: str) -> str:
        """An endpoint the vendor limits separately is its own group; the rest share "default"."""
        return endpoint if endpoint in self.limits else DEFAULT_GROUP

    # ---------------------------------------------------------------- taking

    def acquire(self, group: str, *, max_wait: float) -> float | None:
        """Take one request from the endpoint group's budget, waiting up to `max_wait` seconds.

        Returns the window boundary (unix seconds) the request was counted on both sides of, or
        None; pass it to `observe` with the answer so the side it did not land on gets it back.
        Raises VendorRateLimited (with `retry_at`) when the budget frees up only later.
        """
        group = self.group_for(group)
        deadline = self.clock() + max_wait
        while True:
            wait, boundary = self._take_or_wait(group)
            if wait <= 0:
                return boundary
            now = self.clock()
            labels = {"vendor": self.vendor, "group": group}
            if now + wait > deadline:
                RATE_BUDGET_DEFERRALS.labels(**labels).inc()
                raise VendorRateLimited(
                    f"The rate budget of {group!r} is used up until the vendor's window resets.",
                    vendor=self.vendor,
                    retry_at=unix_to_datetime(now + wait),
                )
            RATE_BUDGET_WAITS.labels(**labels).inc()
            RATE_BUDGET_WAIT_SECONDS.labels(**labels).inc(wait)
            self.sleep(wait)

    def _take_or_wait(self, group: str) -> tuple[float, float | None]:
        """Take one request now (0 and the boundary it straddles, if any) or say how many
        seconds to wait first."""
        row_id = self._row_id(group)
        configured = self.limits[group]
        with transaction.atomic():
            now = self.clock()
            paused = self._key_paused_until()
            if paused is not None and paused > now:
                return paused - now, None
            budget = RateBudget.objects.select_for_update().get(pk=row_id)
            limit = self._effective(budget, configured)

            if budget.window_source == RateWindowSource.UNKNOWN:
                if budget.probe_until > now:
                    return min(budget.probe_until - now, self.PROBE_POLL_SECONDS), None
                budget.probe_until = now + self.PROBE_TIMEOUT_SECONDS
                budget.window_ends_at = now + limit.window_seconds
                budget.used = 1
                budget.save(update_fields=["probe_until", "window_ends_at", "used"])
                return 0.0, None

            if now >= budget.window_ends_at:
                self._start_window(budget, limit, now)
            guard = self._guard(budget)
            if budget.used >= limit.usable:
                return budget.window_ends_at + guard - now, None
            # Near a boundary of the vendor's window, latency and clock skew may put the request
            # on either side of it: it is sent only if both windows have room, and counts in both.
            starts_at = budget.window_ends_at - limit.window_seconds
            boundary = None
            if now < starts_at + guard:
                if budget.used_previous >= limit.usable:
                    return starts_at + guard - now, None
                budget.used_previous += 1
                boundary = starts_at
            elif now > budget.window_ends_at - guard:
                if budget.used_next >= limit.usable:
                    return budget.window_ends_at + guard - now, None
                budget.used_next += 1
                boundary = budget.window_ends_at
            budget.used += 1
            budget.save(update_fields=["window_ends_at", "used", "used_next", "used_previous"])
            return 0.0, boundary

    def _guard(self, budget: RateBudget) -> float:
        # Only windows the vendor told us about have boundaries worth guarding.
        return self.guard_seconds if budget.window_source == RateWindowSource.VENDOR else 0.0

    def _start_window(self, budget: RateBudget, limit: RateLimit, now: float) -> None:
        if budget.window_source == RateWindowSource.VENDOR:
            # The vendor's windows follow each other: the next one ends a whole window later.
            elapsed_windows = math.floor((now - budget.window_ends_at) / limit.window_seconds) + 1
            budget.window_ends_at += elapsed_windows * limit.window_seconds
            self._shift_counts(budget, elapsed_windows)
        else:
            budget.window_ends_at = now + limit.window_seconds
            budget.used = budget.used_next = budget.used_previous = 0

    def _release_other_side(
        self, budget: RateBudget, limit: RateLimit, boundary: float, landed_window_end: float
    ) -> None:
        """A request counted on both sides of `boundary` landed in the window that ends at
        `landed_window_end`: the window on the other side gets its unit back."""
        tolerance = self.SAME_WINDOW_TOLERANCE_SECONDS
        if abs(landed_window_end - boundary) < tolerance:
            other_end = boundary + limit.window_seconds
        elif abs(landed_window_end - boundary - limit.window_seconds) < tolerance:
            other_end = boundary
        else:
            return
        offset = round((other_end - budget.window_ends_at) / limit.window_seconds)
        field = {-1: "used_previous", 0: "used", 1: "used_next"}.get(offset)
        if (
            field is not None
            and abs(other_end - budget.window_ends_at - offset * limit.window_seconds) < tolerance
        ):
            setattr(budget, field, max(0, getattr(budget, field) - 1))

    @staticmethod
    def _shift_counts(budget: RateBudget, windows: int) -> None:
        """Moves the counts `windows` windows on: what was next is now current, and so on."""
        counts = [budget.used_previous, budget.used, budget.used_next, 0, 0]
        shifted = counts[windows : windows + 3] if windows < 3 else [0, 0, 0]
        budget.used_previous, budget.used, budget.used_next = shifted

    def free_at(self, group: str, *, queued: int = 0) -> float:
        """When (unix seconds) the budget could take one more request after `queued` others
        already waiting for it. Read-only: it takes nothing (campaign failover asks it before
        choosing an account). An estimate: the boundary guard is left out."""
        group = self.group_for(group)
        now = self.clock()
        paused = self._key_paused_until()
        start = max(now, paused) if paused is not None else now
        budget = RateBudget.objects.filter(account_id=self.account_id, group=group).first()
        if budget is None or budget.window_source == RateWindowSource.UNKNOWN:
            return start
        limit = self._effective(budget, self.limits[group])
        used, window_ends_at = budget.used, budget.window_ends_at
        if now >= window_ends_at:  # that window is over; the next one has what it was given
            used = budget.used_next if budget.window_source == RateWindowSource.VENDOR else 0
            window_ends_at = now + limit.window_seconds
        position = used + queued
        if position < limit.usable:
            return start
        windows_later = (position - limit.usable) // max(1, limit.usable)
        return max(start, window_ends_at + windows_later * limit.window_seconds)

    # ---------------------------------------------------------------- correcting

    def observe(
        self,
        group: str,
        status: int | None,
        headers: Mapping[str, str],
        *,
        boundary: float | None = None,
    ) -> None:
        """Correct the budget from one answer (`status` None: no answer came at all).

        `boundary` is what `acquire` returned for the request this answers.
        """
        group = self.group_for(group)
        row_id = self._row_id(group)
        configured = self.limits[group]
        now = self.clock()
        said = parse_rate_headers(headers, now)
        with transaction.atomic():
            budget = RateBudget.objects.select_for_update().get(pk=row_id)
            budget.probe_until = 0.0
            if said.limit is not None and said.limit < configured.limit:
                budget.vendor_limit = said.limit
            if said.window_seconds is not None:
                budget.vendor_window_seconds = said.window_seconds
            limit = self._effective(budget, configured)
            vendor_used = (
                max(0, (said.limit or limit.limit) - said.remaining)
                if said.remaining is not None
                else None
            )

            if (
                boundary is not None
                and said.reset_at is not None
                and budget.window_source == RateWindowSource.VENDOR
            ):
                self._release_other_side(budget, limit, boundary, said.reset_at)
            ahead = (
                round((said.reset_at - budget.window_ends_at) / limit.window_seconds)
                if said.reset_at is not None and budget.window_source == RateWindowSource.VENDOR
                else 0
            )
            starts_at = budget.window_ends_at - limit.window_seconds
            if ahead < 0 and now < starts_at + self.guard_seconds:
                # A late answer about the window we just left: it says nothing about this one.
                # (Later in a window it would mean our windows are off: then it realigns them.)
                pass
            elif said.reset_at is not None and said.reset_at > now:
                if ahead >= 1:
                    # An answer about a later window (a request sent just before a boundary):
                    # move on to it, keeping what was already counted in it.
                    self._shift_counts(budget, ahead)
                    budget.window_ends_at += ahead * limit.window_seconds
                # The vendor's current window ends at reset_at: ours ends there too.
                same_window = (
                    budget.window_source == RateWindowSource.VENDOR
                    and abs(said.reset_at - budget.window_ends_at)
                    < self.SAME_WINDOW_TOLERANCE_SECONDS
                )
                budget.window_source = RateWindowSource.VENDOR
                budget.window_ends_at = said.reset_at
                if not same_window:
                    # Our window was not the vendor's: what we counted near its ends is moot.
                    budget.used_next = budget.used_previous = 0
                if vendor_used is not None:
                    budget.used = max(budget.used, vendor_used) if same_window else vendor_used
            elif budget.window_source != RateWindowSource.VENDOR and said.says_anything:
                budget.window_source = RateWindowSource.LOCAL
                if vendor_used is not None:
                    budget.used = max(budget.used, vendor_used)
            elif budget.window_source == RateWindowSource.UNKNOWN and status is not None:
                # An answer without rate headers (an auth error, say): count locally for now.
                budget.window_source = RateWindowSource.LOCAL

            if status == 429:
                retry_at = said.retry_at or said.reset_at or now + limit.window_seconds
                budget.used = limit.usable
                if budget.window_source != RateWindowSource.VENDOR:
                    # Without a reset header the vendor's Retry-After is where its window ends.
                    budget.window_ends_at = retry_at
                self.pause_key(retry_at)
            budget.save()
        self._record_health(status)

    # A successful answer refreshes last_success_at at most this often (one UPDATE, usually
    # matching nothing), so a busy account does not write its row on every request.
    SUCCESS_REFRESH = timedelta(seconds=30)

    def _record_health(self, status: int | None) -> None:
        now = timezone.now()
        account = VendorAccount.objects.filter(pk=self.account_id)
        if status is not None and 200 <= status < 300:
            account.filter(
                Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - self.SUCCESS_REFRESH)
            ).update(last_success_at=now)
        elif status == 429:
            # Counted per hour-long window that starts with the first 429 after a quiet hour.
            fresh = account.filter(
                Q(rate_limited_since__isnull=True)
                | Q(rate_limited_since__lt=now - timedelta(hours=1))
            ).update(rate_limited_since=now, rate_limited_count=1)
            if not fresh:
                account.update(rate_limited_count=F("rate_limited_count") + 1)

    def pause_key(self, until: float) -> None:
        """No request on this key, in any group, before `until` (the vendor's 429 time)."""
        moment = unix_to_datetime(until)
        VendorAccount.objects.filter(pk=self.account_id).filter(
            Q(rate_paused_until__isnull=True) | Q(rate_paused_until__lt=moment)
        ).update(rate_paused_until=moment)

    # ---------------------------------------------------------------- helpers

    def _effective(self, budget: RateBudget, configured: RateLimit) -> RateLimit:
        limit = configured.limit
        if budget.vendor_limit is not None:
            limit = min(limit, budget.vendor_limit)
        return RateLimit(limit, budget.vendor_window_seconds or configured.window_seconds)

    def _key_paused_until(self) -> float | None:
        paused = (
            VendorAccount.objects.filter(pk=self.account_id)
            .values_list("rate_paused_until", flat=True)
            .first()
        )
        return paused.timestamp() if paused is not None else None

    def _row_id(self, group: str) -> int:
        if group not in self._row_ids:
            budget, _ = RateBudget.objects.get_or_create(account_id=self.account_id, group=group)
            self._row_ids[group] = budget.pk
        return self._row_ids[group]
