"""Dial a callback that is due: write its call through `call_create` (hours, caps and
do-not-call are checked there, as on every dial path); the vendor is asked after commit.

Single calls' callbacks are dialled by a beat job (`dial_due_single_callbacks`); a campaign's by
its dispatcher (campaigns/callbacks.py), which passes the agent the campaign chose. A callback
is claimed with its row locked (`skip_locked`), so two workers never dial it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calls.callbacks import local_text
from calls.models import Agent, Call, CallbackStatus, CallEvent, EventSource
from calls.models import Callback as CallbackRow
from calls.services import CallNotAllowedNow, CallRejected, call_create
from vendors.models import VendorAccount

logger = logging.getLogger(__name__)

# When the policy names no next allowed moment (none within two weeks), look again a day later.
RETRY_WITHOUT_OPENING = timedelta(days=1)
# A campaign that completed, and a native one (the voice platform dials its audience, not
# callops), leave their callbacks to the single-call beat job. (Read through the foreign key:
# calls never imports campaigns.)
COMPLETED_CAMPAIGN_STATUS = "completed"
NATIVE_CAMPAIGN_KIND = "native"
ANY_AGENT = "any"  # a campaign's callback_agent: its own agent makes its callbacks


def due_callbacks(*, campaign_id: int | None, now: datetime, limit: int) -> list[int]:
    """Booked callbacks due at `now`: a campaign's, or (None) those the beat job dials."""
    due = CallbackRow.objects.filter(status=CallbackStatus.BOOKED, due_at__lte=now)
    if campaign_id is None:
        due = due.filter(Q(campaign__isnull=True) | Q(campaign__status=COMPLETED_CAMPAIGN_STATUS))
    else:
        due = due.filter(campaign_id=campaign_id)
    return list(due.order_by("due_at", "pk").values_list("pk", flat=True)[:limit])


def callback_dial(
    *,
    callback_id: int,
    vendor_account: VendorAccount | None = None,
    agent: Agent | None = None,
    now: datetime | None = None,
) -> Call | None:
    """Write the call of a due callback; None when it was not dialled (taken by another
    worker, not due, refused now: then it waits for the next allowed time, or is cancelled
    when it can never be placed). Without `agent`, the agent of the call that asked."""
    now = now or timezone.now()
    with transaction.atomic():
        callback = (
            CallbackRow.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("contact", "agent", "vendor_account", "source_call", "campaign")
            .filter(pk=callback_id, status=CallbackStatus.BOOKED, due_at__lte=now)
            .first()
        )
        if callback is None:
            return None
        if agent is None and callback.campaign_id and _campaign_agent_chosen(callback):
            agent, vendor_account = callback.campaign.agent, callback.campaign.vendor_account
        agent = agent or callback.agent
        vendor_account = vendor_account or callback.vendor_account
        if agent is None:
            _needs_attention(callback, "The agent of the call that asked no longer exists.")
            return None
        try:
            call, _created = call_create(
                vendor_account=vendor_account,
                agent=agent,
                to_number=callback.to_number,
                contact=callback.contact,
                variables=callback.source_call.variables,
                metadata={"callback_id": callback.pk, "callback_of_call": callback.source_call_id},
                campaign_id=callback.campaign_id,
                source=EventSource.SYSTEM,
            )
        except CallNotAllowedNow as refusal:
            callback.due_at = refusal.retry_at or now + RETRY_WITHOUT_OPENING
            zone_text = local_text(callback.due_at, ZoneInfo(callback.time_zone))
            callback.note = f"Waiting until {zone_text}: {refusal.message}"[:300]
            callback.save(update_fields=["due_at", "note", "updated_at"])
            return None
        except CallRejected as refusal:
            if refusal.field == "to_number":  # do-not-call, or a number that cannot be called
                callback.status = CallbackStatus.CANCELLED
                callback.note = f"Not dialled: {refusal.message}"[:300]
                callback.save(update_fields=["status", "note", "updated_at"])
                _event(callback.source_call_id, f"Callback cancelled: {refusal.message}")
                return None
            _needs_attention(callback, refusal.message)
            return None
        callback.status = CallbackStatus.DIALLED
        callback.call = call
        callback.save(update_fields=["status", "call", "updated_at"])
        _event(callback.source_call_id, f"Callback dialled: call {call.pk}.")
        _event(call.pk, f"A callback the callee asked for on call {callback.source_call_id}.")
    return call


def _campaign_agent_chosen(callback: CallbackRow) -> bool:
    """The callback's campaign has its own agent make callbacks (its `callback_agent`, read
    through the foreign key: calls never imports campaigns)."""
    campaign = callback.campaign
    return campaign.callback_agent == ANY_AGENT and campaign.agent_id is not None


def _needs_attention(callback: CallbackRow, reason: str) -> None:
    """The account or agent cannot call: back to the queue, for an operator to decide."""
    callback.status = CallbackStatus.NEEDS_TIME
    callback.due_at = None
    callback.note = f"Not dialled: {reason}"[:300]
    callback.save(update_fields=["status", "due_at", "note", "updated_at"])


def _event(call_id: int, message: str) -> None:
    CallEvent.objects.create(call_id=call_id, source=EventSource.SYSTEM, message=message[:500])


def dial_due_single_callbacks(*, limit: int = 200) -> int:
    """Beat: dial the due callbacks of single calls (and of completed campaigns); how many."""
    now = timezone.now()
    dialled = 0
    for callback_id in due_callbacks(campaign_id=None, now=now, limit=limit):
        try:
            dialled += callback_dial(callback_id=callback_id, now=now) is not None
        except Exception:
            logger.exception("dialling callback %s failed", callback_id)
    return dialled
