"""Callbacks a callee asked for: booked when the call ends, changed or cancelled by operators.

Booking runs in the post-call plan (calls/post_call.py), in its transaction with the call row
locked, once per call. A call whose common outcome is *callback requested* because the callee
asked (the agent's `callback_time`-like variable, or their words in the transcript; a
live-call handoff is the voice platform's human queue and books nothing here) gets one
Callback:

- at the time it names, read in the contact's zone from the call's end (calls/callback_time);
- moved to the first moment the calling hours allow when that time is outside them (the note
  says from when and why);
- in the callback queue (`needs_time`) when no time could be read, or the hours allow none
  within two weeks: an operator sets one or dismisses it.

Dialling is calls/callback_dial.py (single calls, by beat) and campaigns/callbacks.py (the
campaign's dispatcher), both through `call_create`, so hours, caps and do-not-call are checked
again when the call is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls.callback_time import (
    CALLBACK_TIME_VARIABLES,
    callback_request_in,
    names_a_time,
    parse_callback_time,
)
from calls.models import Call, CallbackStatus, CallEvent, CommonOutcome, EventSource
from calls.models import Callback as CallbackRow
from contacts import compliance


class CallbackRejected(ValueError):
    """An operator's change that cannot be made; the message says why."""


def requested_time_text(call: Call) -> str:
    """What the callee asked for: the agent's time variable, else their words; "" if neither."""
    variables = call.extracted_variables
    if isinstance(variables, Mapping):
        for name in CALLBACK_TIME_VARIABLES:
            if names_a_time(variables.get(name)):
                return str(variables[name]).strip()
    return callback_request_in(call.transcript)


def zone_for(*, phone_e164: str, time_zone: str = "") -> ZoneInfo:
    """The zone a callback is read and shown in: the contact's, else the number's (its first,
    for a number spanning several), else the site's."""
    zones = compliance.place_of(phone_e164, time_zone=time_zone).zones
    try:
        return ZoneInfo(zones[0]) if zones else ZoneInfo(settings.TIME_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    """ "Fri 4 Dec, 15:00 (America/New_York)": how notes and timelines name a callback time."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M} ({zone.key})"


def _event(call_id: int, message: str, *, source: str = EventSource.SYSTEM) -> None:
    CallEvent.objects.create(call_id=call_id, source=source, message=message[:500])


def allowed_time(
    *, phone_e164: str, zone: ZoneInfo, wanted: datetime
) -> tuple[datetime | None, str]:
    """The first moment from `wanted` the calling hours allow, and the rule that moved it ("" if
    `wanted` is allowed). None: no allowed moment within the policy's look-ahead."""
    try:
        compliance.check_hours(phone_e164, time_zone=zone.key, at=wanted)
    except compliance.NotAllowedNow as refusal:
        return refusal.retry_at, refusal.rule
    return wanted, ""


def callback_book(*, call: Call) -> CallbackRow | None:
    """Book the callback an ended call asked for (once per call); None when it asked none."""
    if call.common_outcome != CommonOutcome.CALLBACK_REQUESTED or not call.to_number:
        return None
    requested = requested_time_text(call)
    variables = call.extracted_variables if isinstance(call.extracted_variables, Mapping) else {}
    asked = bool(requested) or str(variables.get("callback_requested", "")).lower() in (
        "true",
        "yes",
        "1",
    )
    if not asked:
        return None  # a live-call handoff: the voice platform's human queue calls back
    contact = call.contact
    zone = zone_for(phone_e164=call.to_number, time_zone=contact.time_zone if contact else "")
    ended = call.ended_at or timezone.now()
    wanted = parse_callback_time(requested, after=ended, zone=zone) if requested else None
    status, due, note = CallbackStatus.NEEDS_TIME, None, ""
    if wanted is None:
        note = (
            f"callops could not read a time from “{requested[:120]}”."
            if requested
            else "The callee asked for a callback without naming a time."
        )
    else:
        due, rule = allowed_time(phone_e164=call.to_number, zone=zone, wanted=wanted)
        if due is None:
            note = f"Asked for {local_text(wanted, zone)}; {rule}, with no allowed time soon."
        else:
            status = CallbackStatus.BOOKED
            if rule:
                note = f"Asked for {local_text(wanted, zone)}; moved: {rule}."
    callback, created = CallbackRow.objects.get_or_create(
        source_call=call,
        defaults={
            "contact": contact,
            "to_number": call.to_number,
            "campaign_id": call.campaign_id,
            "vendor_account_id": call.vendor_account_id,
            "agent_id": call.agent_id,
            "status": status,
            "due_at": due,
            "time_zone": zone.key,
            "requested": requested[:300],
            "note": note[:300],
        },
    )
    if created:
        if due is not None:
            _event(call.pk, f"Callback booked for {local_text(due, zone)}.")
        else:
            _event(call.pk, f"Callback requested: in the callback queue. {note}")
    return callback


def _locked_open(callback_id: int) -> CallbackRow:
    callback = CallbackRow.objects.select_for_update().get(pk=callback_id)
    if not callback.is_open:
        raise CallbackRejected(
            f"This callback is {callback.get_status_display().lower()} already; "
            "nothing was changed."
        )
    return callback


def _who(user: Any) -> str:
    return getattr(user, "username", "") or "an operator"


def callback_set_time(*, callback_id: int, due: datetime, user: Any) -> CallbackRow:
    """An operator books (or moves) a callback; refused in the past or outside calling hours,
    naming the first allowed time."""
    with transaction.atomic():
        callback = _locked_open(callback_id)
        zone = ZoneInfo(callback.time_zone)
        if due <= timezone.now():
            raise CallbackRejected("Choose a time in the future.")
        allowed, rule = allowed_time(phone_e164=callback.to_number, zone=zone, wanted=due)
        if rule:
            first = f" The first allowed time is {local_text(allowed, zone)}." if allowed else ""
            raise CallbackRejected(f"{rule}.{first}")
        callback.status = CallbackStatus.BOOKED
        callback.due_at = due
        callback.note = f"Set by {_who(user)}."
        callback.changed_by = user
        callback.save(update_fields=["status", "due_at", "note", "changed_by", "updated_at"])
        _event(
            callback.source_call_id,
            f"Callback set for {local_text(due, zone)} by {_who(user)}.",
            source=EventSource.USER,
        )
    return callback


def callback_cancel(*, callback_id: int, user: Any) -> CallbackRow:
    """Cancel a booked callback, or dismiss one waiting for a time: it will not be dialled."""
    with transaction.atomic():
        callback = _locked_open(callback_id)
        dismissed = callback.status == CallbackStatus.NEEDS_TIME
        callback.status = CallbackStatus.DISMISSED if dismissed else CallbackStatus.CANCELLED
        callback.note = f"{'Dismissed' if dismissed else 'Cancelled'} by {_who(user)}."
        callback.changed_by = user
        callback.save(update_fields=["status", "note", "changed_by", "updated_at"])
        _event(callback.source_call_id, f"Callback {callback.note[0].lower()}{callback.note[1:]}",
               source=EventSource.USER)  # fmt: skip
    return callback
