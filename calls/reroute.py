"""Moving a written call that no vendor has received to another vendor account.

A campaign's call is written for one account; if that account's vendor goes down before the
call reaches it (its circuit breaker opens while the call waits to be sent, or waits for a
retry), the campaign's failover (campaigns/failover.py) may place it through a backup arm's
account instead. Whether that is safe is decided here, by the call row under its row lock:

- the call is still pending, with no vendor call id;
- no worker holds its dispatch lease (a request for it may be on the wire right now);
- every dispatch attempt so far surely never reached the vendor (`unsent_attempts ==
  dispatch_attempts`: no connection was made, the vendor answered with an error, or the
  breaker refused before sending). A timeout after sending, a connection dropped before the
  answer, or a worker that died mid-request leaves the call where it is: that vendor may be
  placing it, and the call keeps retrying there with its idempotency key.

The dispatch claim (calls/sending.py `claim_for_dispatch`) is a conditional UPDATE of the same
row, so a claim and a move cannot both win: the call is sent to one vendor only. The row itself
moves (same id, idempotency key, number and compliance attempt): it still counts once for the
campaign's pace, the contact's attempts and the live-call governor, and a dispatch task queued
for it earlier now sends it to the new account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from calls import enqueue, governor
from calls.models import Agent, Call, CallEvent, CallState, EventSource
from vendors.models import VendorAccount


def never_sent(now: datetime | None = None) -> QuerySet[Call]:
    """Pending calls that no vendor can have received and that no worker is sending now."""
    now = now or timezone.now()
    return Call.objects.filter(
        Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now),
        state=CallState.PENDING,
        vendor_call_id="",
        unsent_attempts=F("dispatch_attempts"),
    )


@dataclass(frozen=True)
class NewRoute:
    vendor_account: VendorAccount
    agent: Agent
    variables: dict[str, Any]
    metadata: dict[str, Any]
    reason: str  # shown on the call's timeline


def call_reroute(*, call_id: int, route: NewRoute) -> bool:
    """Move a call that no vendor has received to `route`; False when it is not (or no longer)
    safe: it was sent or is being sent, or the new account is at its live-call limit."""
    with transaction.atomic():
        # The new account's limit first (its lock), as writing a call does.
        if governor.refusal_for_new_call(route.vendor_account, moving=True) is not None:
            return False
        call = (
            never_sent()
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("vendor_account")
            .filter(pk=call_id)
            .first()
        )
        if call is None or call.vendor_account_id == route.vendor_account.pk:
            return False
        previous = call.vendor_account
        call.vendor_account = route.vendor_account
        call.agent = route.agent
        call.variables = route.variables
        call.metadata = route.metadata
        # The new vendor gets the attempts a call has (the old one got none of them).
        call.dispatch_attempts = call.unsent_attempts = 0
        call.save(
            update_fields=[
                "vendor_account",
                "agent",
                "variables",
                "metadata",
                "dispatch_attempts",
                "unsent_attempts",
            ]
        )
        CallEvent.objects.create(
            call=call,
            source=EventSource.SYSTEM,
            message=(
                f"Moved from {previous.name} to {route.vendor_account.name} before it was "
                f"sent: {route.reason}"
            )[:500],
            data={"from_account_id": previous.pk, "to_account_id": route.vendor_account.pk},
        )
        transaction.on_commit(lambda: enqueue.dispatch_call(call_id))
    return True
