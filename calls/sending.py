"""Claiming a pending call for its request to the vendor, in order with its campaign's stop.

A campaign promises that once a stop is acknowledged no new call of it starts: no request
asking a vendor to place one of its calls arrives after that moment. The dispatcher writes the
calls in its transaction and they are sent after commit, so what the sender reads of the
campaign must be ordered with the stop, and the stop must not be acknowledged while a call it
let through is still on its way:

- the sender claims the call (its dispatch lease, `next_sync_at`) in a transaction that first
  locks the campaign's row FOR KEY SHARE, which only a FOR UPDATE conflicts with (a stop's
  lock; the dispatcher writing the next calls takes NO KEY UPDATE and does not hold senders
  up); the status it reads there is the last committed one, and a stop under way is waited
  for;
- the stop, once committed, waits until no call of the campaign is claimed and still
  unanswered (`wait_for_calls_being_sent`) before it returns.

Either the stop commits first and the sender finds it (the call fails, unsent), or the claim
commits first and the stop returns only after that call's request has been answered. Before
this, the sender read the status without a lock a few milliseconds before its request, and a
stop committed in between was acknowledged before the request reached the vendor (the
failover benchmark's unexplained "call after the stop").
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from calls.models import Call, CallState
from vendors.http import RetryPolicy, Timeouts

logger = logging.getLogger(__name__)

# The longest a claimed call may take before its request reaches the vendor: the HTTP core's
# wait for rate budget, then a connection. A stop waits at most this long for such calls.
SEND_WAIT_SECONDS = RetryPolicy().max_wait + Timeouts().connect + 1.0
POLL_SECONDS = 0.02


def dispatch_lease() -> timedelta:
    """How long a dispatching (or syncing) worker owns a call before another may take over."""
    return timedelta(seconds=settings.CALLOPS_DISPATCH_LEASE_SECONDS)


def claim_for_dispatch(call_id: int) -> str | None:
    """Take the call's dispatch lease; None when it is not claimable (sent, ended, or another
    worker holds the lease). Otherwise the status of the call's campaign as a stop left it
    ("" for a call without a campaign): the caller sends nothing when it is stopped."""
    now = timezone.now()
    with transaction.atomic():
        status = _campaign_status_for_send(call_id)
        claimed = Call.objects.filter(
            Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now),
            pk=call_id,
            state=CallState.PENDING,
            vendor_call_id="",
        ).update(
            dispatch_attempts=F("dispatch_attempts") + 1,
            # While pending, next_sync_at is the dispatch lease: nobody else dispatches before it.
            next_sync_at=now + dispatch_lease(),
        )
    return status if claimed == 1 else None


def _campaign_status_for_send(call_id: int) -> str:
    """The call's campaign's status, read under a lock that waits for a stop under way and
    makes a later stop wait for this transaction ("" without a campaign). Raw SQL because
    Django knows no FOR KEY SHARE, and because calls does not import campaigns."""
    campaign_table = Call._meta.get_field("campaign").related_model._meta.db_table
    lock = " FOR KEY SHARE OF campaign" if connection.vendor == "postgresql" else ""
    # SQLite needs no lock: its writing transactions begin IMMEDIATE, one at a time.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT campaign.status FROM {Call._meta.db_table} AS call "  # noqa: S608 - table names from the models
            f"JOIN {campaign_table} AS campaign ON campaign.id = call.campaign_id "
            f"WHERE call.id = %s{lock}",
            [call_id],
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def calls_being_sent(campaign_id: int) -> int:
    """Calls of the campaign claimed for their request and not answered yet."""
    return Call.objects.filter(
        campaign_id=campaign_id,
        state=CallState.PENDING,
        vendor_call_id="",
        next_sync_at__gt=timezone.now(),
    ).count()


def wait_for_calls_being_sent(campaign_id: int, *, timeout: float = SEND_WAIT_SECONDS) -> int:
    """After a stop commits: wait until every call claimed before it has been answered, so that
    none reaches its vendor after the stop is acknowledged. Usually no call or one, for a few
    milliseconds. Returns how many were still being sent at the timeout (a worker that died
    holding its lease; its call fails unsent when it is claimed again)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = calls_being_sent(campaign_id)
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    if pending:
        logger.warning(
            "campaign %s stopped with %s call(s) still claimed for sending", campaign_id, pending
        )
    return pending
