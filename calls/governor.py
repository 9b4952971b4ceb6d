"""The concurrency governor: how many calls may be live at once, per vendor account and in all.

A call is live from the moment callops writes it (pending) until it ends or fails (by webhook
or sync); calls marked stale (no news for hours) no longer count. The limits are the account's
`max_live_calls` (set by an admin on the connection page, empty for none) and the total
`CALLOPS_MAX_LIVE_CALLS` (environment, 0 for none).

The pending row is the slot: `refusal_for_new_call` runs in the transaction that writes the call
and locks the account rows first (every calling account, in id order, when a total limit is
set), so two workers cannot both count the last free slot. SQLite serializes writing
transactions anyway (they begin IMMEDIATE); PostgreSQL needs the row locks. A single call over a
limit is refused (the form and API say why); the paced dispatcher asks `headroom` first and
waits while it is 0, so a campaign never fails on the limit. A campaign with arms asks
`headroom_across` its arms' accounts: it waits only when all are full, and an arm whose account
is full waits while the others dial.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from calls.models import LIVE_STATES, Call
from vendors.models import CALLING_KINDS, VendorAccount


@dataclass(frozen=True)
class LiveCallLimits:
    account_live: int
    account_limit: int | None
    total_live: int
    total_limit: int | None


def total_limit() -> int | None:
    limit = settings.CALLOPS_MAX_LIVE_CALLS
    return limit if limit > 0 else None


def live_calls(*, account_id: int | None = None) -> int:
    calls = Call.objects.filter(state__in=LIVE_STATES, is_stale=False)
    if account_id is not None:
        calls = calls.filter(vendor_account_id=account_id)
    return calls.count()


def limits_of(account: VendorAccount) -> LiveCallLimits:
    overall = total_limit()
    return LiveCallLimits(
        account_live=live_calls(account_id=account.pk),
        account_limit=account.max_live_calls,
        total_live=live_calls() if overall is not None else 0,
        total_limit=overall,
    )


def headroom(account: VendorAccount) -> int | None:
    """How many more calls the account may start now (None: no limit applies)."""
    limits = limits_of(account)
    free: list[int] = []
    if limits.account_limit is not None:
        free.append(limits.account_limit - limits.account_live)
    if limits.total_limit is not None:
        free.append(limits.total_limit - limits.total_live)
    return max(0, min(free)) if free else None


def headroom_across(accounts: Iterable[VendorAccount]) -> tuple[int | None, set[int]]:
    """How many more calls these accounts together may start now (None: no limit applies),
    and the ids of those among them at their own limit: a campaign whose arms call through
    several accounts waits only when all of them (or the total) are full."""
    free_total = 0
    unlimited = False
    full: set[int] = set()
    for account in {account.pk: account for account in accounts}.values():
        limits = limits_of(account)
        if limits.account_limit is None:
            unlimited = True
            continue
        free = max(0, limits.account_limit - limits.account_live)
        if free == 0:
            full.add(account.pk)
        free_total += free
    overall = total_limit()
    if overall is not None:
        total_free = max(0, overall - live_calls())
        return (total_free if unlimited else min(free_total, total_free)), full
    return (None if unlimited else free_total), full


def _lock(account: VendorAccount) -> VendorAccount:
    """Locks what the count depends on; returns the account as it is now (its limit may have
    been changed since the caller read it)."""
    if total_limit() is None:
        return VendorAccount.objects.select_for_update().get(pk=account.pk)
    locked = list(
        VendorAccount.objects.select_for_update().filter(kind__in=CALLING_KINDS).order_by("pk")
    )
    return next(row for row in locked if row.pk == account.pk)


def refusal_for_new_call(account: VendorAccount, *, moving: bool = False) -> str | None:
    """Why one more live call on this account is over a limit now, or None. Call it inside the
    transaction that writes the call. `moving`: the call is live already (on another account,
    calls/reroute.py), so only this account's limit applies."""
    current = _lock(account)
    limits = limits_of(current)
    if limits.account_limit is not None and limits.account_live >= limits.account_limit:
        return (
            f"{current.name} already has {limits.account_live} live call"
            f"{'s' if limits.account_live != 1 else ''}, its limit: try again when one ends."
        )
    if not moving and limits.total_limit is not None and limits.total_live >= limits.total_limit:
        return (
            f"{limits.total_live} calls are live across all vendors, the most callops places "
            "at once: try again when one ends."
        )
    return None
