"""A circuit breaker per vendor account, shared by every process through the database.

Every request the HTTP core (vendors/http.py) sends for a stored account passes its breaker
before its first attempt, and each attempt's answer is counted:

- **closed**: requests go through. Transport errors, timeouts and 5xx answers are counted in a
  row; `breaker_failure_threshold` of them (default 5), or one 503, open it. Any other answer
  (2xx, 4xx) sets the count back to 0. A 429 changes nothing: rate limiting is the rate
  budget's business, not an outage.
- **open**: no request is sent; the caller gets `VendorCircuitOpen` (a transient
  `VendorUnavailable` with `retry_at`) at once. After `breaker_cooldown_seconds` (default 60)
- **half-open**: exactly one request, the probe, is let through; every other caller still gets
  `VendorCircuitOpen`. Any answer that is not a failure closes the breaker; a failure opens it
  for another cool-down. A probe whose process dies is replaced after `PROBE_LEASE`.

A request let through before the breaker opened keeps its own retries (bounded by its retry
policy, same idempotency key): if one of them succeeds, the vendor is back and the breaker
closes at once, whatever its state.

Each transition is one conditional UPDATE (`UPDATE … WHERE state = 'open' AND open_until <=
now`), so when several workers race exactly one wins it: one probe, one transition row, one
audit event. The voice platform's documented 503 "No agents available in target queue" is a
queue state, not an outage, and is not counted.

Public API for other code (campaign failover reads it before choosing a vendor account):

- `allows_call(account_id) -> bool`: would a request be let through now (closed, or open with
  its cool-down over so that a probe may go)? It only reads; the request itself decides.
- `state_of(account_id) -> BreakerStatus`: the state, failures in a row, the last failure and
  the end of the cool-down.
- `open_breakers() -> list[BreakerStatus]`: the accounts whose breaker is not closed.
- `breaker_reset(account_id, user=…, request=…)`: an admin closes the breaker by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction
from vendors.errors import VendorUnavailable
from vendors.models import (
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    VendorAccount,
    VendorKind,
)

logger = logging.getLogger("vendors.breaker")

Clock = Callable[[], datetime]

# How long a probe owns the half-open breaker: longer than one request with its timeouts.
PROBE_LEASE = timedelta(seconds=60)
MAX_REASON_LENGTH = 300


class VendorCircuitOpen(VendorUnavailable):
    """The account's breaker is open (or its probe is out): nothing was sent to the vendor."""

    def __init__(self, message: str, *, retry_at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


@dataclass(frozen=True)
class BreakerStatus:
    account_id: int
    account_name: str
    state: str
    consecutive_failures: int
    threshold: int
    cooldown_seconds: int
    last_failure: str
    opened_at: datetime | None
    open_until: datetime | None

    @property
    def label(self) -> str:
        return BreakerState(self.state).label

    @property
    def is_closed(self) -> bool:
        return self.state == BreakerState.CLOSED


def is_failure(vendor: str, status: int | None, message: str = "") -> bool:
    """Whether an answer counts against the breaker (`status` None: no answer at all)."""
    if status is None:
        return True
    if status == 503 and vendor == VendorKind.VOICE_PLATFORM and "no agents" in message.lower():
        return False
    return status >= 500


def opens_at_once(status: int | None) -> bool:
    """A vendor that says 503 is down by its own word: no need to wait for more failures."""
    return status == 503


class AccountBreaker:
    """The breaker of one vendor account, as one VendorHttp uses it."""

    def __init__(self, account: VendorAccount, *, clock: Clock = timezone.now) -> None:
        self.account_id = account.pk
        self.account_name = account.name
        self.vendor = account.kind
        self.threshold = max(1, account.breaker_failure_threshold)
        self.cooldown = timedelta(seconds=max(1, account.breaker_cooldown_seconds))
        self.clock = clock
        self.row_id = _row_for(account.pk).pk
        # Whether this client saw the breaker anything but closed with no failure counted (when
        # it asked last) or counted a failure since: only then may a success have to write.
        self._may_need_reset = True

    def _rows(self) -> Any:
        return CircuitBreaker.objects.filter(pk=self.row_id)

    def before_request(self) -> bool:
        """Let a request through (True when it is the half-open probe) or raise
        VendorCircuitOpen without sending anything."""
        row = (
            self._rows()
            .values("state", "consecutive_failures", "open_until", "probe_until", "last_failure")
            .get()
        )
        if row["state"] == BreakerState.CLOSED:
            self._may_need_reset = row["consecutive_failures"] > 0
            return False
        self._may_need_reset = True
        now = self.clock()
        if row["state"] == BreakerState.OPEN:
            if row["open_until"] is not None and now < row["open_until"]:
                raise self._refusal(row["open_until"], row["last_failure"])
            took = (
                self._rows()
                .filter(state=BreakerState.OPEN, open_until__lte=now)
                .update(state=BreakerState.HALF_OPEN, probe_until=now + PROBE_LEASE, changed_at=now)
            )
            if took:
                self._transition(
                    BreakerState.OPEN,
                    BreakerState.HALF_OPEN,
                    "Cool-down over: one probe request is let through.",
                )
                return True
        else:
            took = (
                self._rows()
                .filter(state=BreakerState.HALF_OPEN, probe_until__lte=now)
                .update(probe_until=now + PROBE_LEASE)
            )
            if took:
                logger.warning(
                    "breaker of account %s: the previous probe was lost", self.account_id
                )
                return True
        raise self._refusal(now + timedelta(seconds=1), row["last_failure"], probing=True)

    def record(self, *, status: int | None, message: str, probe: bool) -> None:
        """Count one answer (`status` None: a transport error or timeout)."""
        if status == 429 and not probe:
            return
        if not is_failure(self.vendor, status, message):
            self._record_success(probe=probe)
            return
        reason = f"HTTP {status}: {message}" if status is not None else message
        self._record_failure(reason[:MAX_REASON_LENGTH], at_once=opens_at_once(status), probe=probe)

    def release_probe(self) -> None:
        """The probe was not sent after all (its rate budget was spent): the next caller
        may probe at once instead of after the lease."""
        self._rows().filter(state=BreakerState.HALF_OPEN).update(probe_until=self.clock())

    def _close_from(self, state: str, reason: str) -> bool:
        """Close the breaker if it is in `state` (one conditional UPDATE: of racing workers,
        one wins and records the transition)."""
        closed = self._rows().filter(state=state).update(**_closing(self.clock()))
        if closed:
            self._transition(state, BreakerState.CLOSED, reason)
        return bool(closed)

    def _record_success(self, *, probe: bool) -> None:
        if not probe and not self._may_need_reset:
            # Closed with nothing counted when this request was let through: no write on a
            # healthy account. (A failure another process counts meanwhile is reset by the
            # next success that sees it.)
            return
        if probe and self._close_from(
            BreakerState.HALF_OPEN, "The probe request succeeded: requests go through again."
        ):
            return
        # A request let through before the breaker opened succeeded (on a retry, or slowly);
        # or the probe did, on a retry after its first answer had opened the breaker again.
        if self._close_from(
            BreakerState.OPEN, "A request already under way succeeded: the vendor answers again."
        ):
            return
        self._may_need_reset = False
        self._rows().filter(state=BreakerState.CLOSED, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )

    def _record_failure(self, reason: str, *, at_once: bool, probe: bool) -> None:
        self._may_need_reset = True
        now = self.clock()
        if probe:
            reopened = (
                self._rows()
                .filter(state=BreakerState.HALF_OPEN)
                .update(
                    state=BreakerState.OPEN,
                    consecutive_failures=F("consecutive_failures") + 1,
                    last_failure=reason,
                    opened_at=now,
                    open_until=now + self.cooldown,
                    probe_until=None,
                    changed_at=now,
                )
            )
            if reopened:
                self._transition(
                    BreakerState.HALF_OPEN, BreakerState.OPEN, f"The probe failed ({reason})."
                )
            return
        self._rows().filter(state=BreakerState.CLOSED).update(
            consecutive_failures=F("consecutive_failures") + 1, last_failure=reason
        )
        opening = self._rows().filter(state=BreakerState.CLOSED)
        if not at_once:
            opening = opening.filter(consecutive_failures__gte=self.threshold)
        opened = opening.update(
            state=BreakerState.OPEN, opened_at=now, open_until=now + self.cooldown, changed_at=now
        )
        if opened:
            why = (
                f"The vendor answered 503 ({reason})."
                if at_once
                else f"{self.threshold} failures in a row (last: {reason})."
            )
            self._transition(BreakerState.CLOSED, BreakerState.OPEN, why)

    def _refusal(
        self, retry_at: datetime, last_failure: str, *, probing: bool = False
    ) -> VendorCircuitOpen:
        local = timezone.localtime(retry_at).strftime("%H:%M:%S")
        if probing:
            message = (
                f"{self.account_name} is paused by callops' circuit breaker: one probe request "
                "is checking whether the vendor is back."
            )
        else:
            message = (
                f"{self.account_name} is paused by callops' circuit breaker until {local} "
                f"after repeated failures (last: {last_failure or 'unknown'})."
            )
        return VendorCircuitOpen(message, vendor=self.vendor, retry_at=retry_at)

    def _transition(self, state_from: str, state_to: str, reason: str) -> None:
        _write_transition(self.account_id, self.account_name, state_from, state_to, reason)


def _closing(at: datetime) -> dict[str, Any]:
    """The columns of a breaker that closes at `at`: nothing counted, no cool-down, no probe."""
    return {
        "state": BreakerState.CLOSED,
        "consecutive_failures": 0,
        "open_until": None,
        "probe_until": None,
        "changed_at": at,
    }


def _row_for(account_id: int) -> CircuitBreaker:
    row, _created = CircuitBreaker.objects.get_or_create(account_id=account_id)
    return row


def _write_transition(
    account_id: int,
    account_name: str,
    state_from: str,
    state_to: str,
    reason: str,
    *,
    user: Any = None,
    request: Any = None,
) -> None:
    reason = reason[:MAX_REASON_LENGTH]
    BreakerTransition.objects.create(
        account_id=account_id, state_from=state_from, state_to=state_to, reason=reason
    )
    audit_record(
        action=AuditAction.VENDOR_BREAKER_CHANGED,
        request=request,
        actor=user,
        target=f"vendor {account_name}",
        detail={"from": state_from, "to": state_to, "reason": reason},
    )
    log = logger.warning if state_to == BreakerState.OPEN else logger.info
    log("breaker of account %s: %s -> %s (%s)", account_id, state_from, state_to, reason)


# ------------------------------------------------------------------------------ public API


def _status(account: VendorAccount, row: CircuitBreaker | None) -> BreakerStatus:
    return BreakerStatus(
        account_id=account.pk,
        account_name=account.name,
        state=row.state if row else BreakerState.CLOSED,
        consecutive_failures=row.consecutive_failures if row else 0,
        threshold=account.breaker_failure_threshold,
        cooldown_seconds=account.breaker_cooldown_seconds,
        last_failure=row.last_failure if row else "",
        opened_at=row.opened_at if row else None,
        open_until=row.open_until if row else None,
    )


def state_of(account_id: int) -> BreakerStatus:
    """The breaker of one account as it is now (closed when it has never been used)."""
    account = VendorAccount.objects.get(pk=account_id)
    return _status(account, CircuitBreaker.objects.filter(account_id=account_id).first())


def allows_call(account_id: int, *, now: datetime | None = None) -> bool:
    """Whether a request to this account would be let through now. Read-only: when the
    cool-down is over it says True, though only the first request will be the probe."""
    row = CircuitBreaker.objects.filter(account_id=account_id).first()
    if row is None or row.state == BreakerState.CLOSED:
        return True
    now = now or timezone.now()
    if row.state == BreakerState.OPEN:
        return row.open_until is None or row.open_until <= now
    return row.probe_until is None or row.probe_until <= now


def open_breakers() -> list[BreakerStatus]:
    """Accounts whose breaker is open or half-open, for the overview's "Needs attention"."""
    rows = (
        CircuitBreaker.objects.exclude(state=BreakerState.CLOSED)
        .select_related("account")
        .order_by("account__name")
    )
    return [_status(row.account, row) for row in rows]


def breaker_history(account_id: int, *, limit: int = 20) -> list[BreakerTransition]:
    return list(BreakerTransition.objects.filter(account_id=account_id)[:limit])


def breaker_reset(account_id: int, *, user: Any = None, request: Any = None) -> bool:
    """Close the breaker by hand (an admin who knows the vendor is back). False if it was
    closed already."""
    row = _row_for(account_id)
    previous = row.state
    closed = (
        CircuitBreaker.objects.filter(pk=row.pk)
        .exclude(state=BreakerState.CLOSED)
        .update(**_closing(timezone.now()))
    )
    if not closed:
        return False
    name = VendorAccount.objects.values_list("name", flat=True).get(pk=account_id)
    _write_transition(
        account_id,
        name,
        previous,
        BreakerState.CLOSED,
        "Closed by hand by an admin.",
        user=user,
        request=request,
    )
    return True
