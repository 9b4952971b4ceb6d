"""Importing Revont's call records (human sales reps) beside the AI calls.

The import walks Revont's cursor pages from the stored cursor and saves each page together
with the cursor after it, in one transaction: a crash between pages resumes at the first page
not saved, and re-importing a record updates it (keyed by Revont's id), so there are neither
gaps nor duplicates. No transaction is open while Revont is asked for a page.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from calls import enqueue
from calls.models import Call, CallOutcome, CallState, SyncCursor
from calls.outcomes import REVONT, outcome_of_reason, refine
from contacts.models import Contact
from contacts.phones import PhoneError, normalize_phone
from vendors.errors import VendorError
from vendors.revont.schemas import CallRecord
from vendors.services import vendor_client_for

logger = logging.getLogger(__name__)

CURSOR_NAME = "revont-calls"
PAGE_SIZE = 100  # Revont's largest page
IMPORT_LEASE = timedelta(minutes=5)
# Revont names its speakers: the rep by name (or id, or the word "rep"), everyone else is on the
# customer's side. The call page shows the role and keeps the person's name beside it.
REP_WORDS = {"rep", "agent"}


def _speaker_role(speaker: str, record: CallRecord) -> str:
    said = speaker.strip().casefold()
    rep = {word for word in (record.rep_name, record.rep_id) if word}
    if said in REP_WORDS or said in {word.strip().casefold() for word in rep}:
        return "agent"
    return "customer"


def _claim(state: SyncCursor) -> bool:
    now = timezone.now()
    return bool(
        SyncCursor.objects.filter(
            Q(locked_until__isnull=True) | Q(locked_until__lte=now), pk=state.pk
        ).update(locked_until=now + IMPORT_LEASE)
    )


def revont_import(*, account: Any, max_pages: int = 100) -> int:
    """Import new Revont records from the stored cursor; returns how many were saved."""
    state, _ = SyncCursor.objects.get_or_create(vendor_account=account, name=CURSOR_NAME)
    if not _claim(state):
        return 0
    saved = 0
    cursor = state.cursor or None
    try:
        with vendor_client_for(account) as client:
            for _page in range(max_pages):
                page = client.list_calls(cursor=cursor, limit=PAGE_SIZE)
                cursor = page.next_cursor or cursor
                with transaction.atomic():
                    for record in page.items:
                        revont_record_save(account=account, record=record)
                    SyncCursor.objects.filter(pk=state.pk).update(
                        cursor=cursor or "", last_run_at=timezone.now(), last_error=""
                    )
                saved += len(page.items)
                if not page.has_more:
                    break
    except VendorError as exc:
        SyncCursor.objects.filter(pk=state.pk).update(last_error=str(exc)[:500])
        logger.warning("Revont import for account %s stopped: %s", account.pk, exc)
    finally:
        SyncCursor.objects.filter(pk=state.pk).update(locked_until=None)
    if saved:
        SyncCursor.objects.filter(pk=state.pk).update(imported=F("imported") + saved)
    return saved


def _phone(raw: str | None) -> str:
    if not raw:
        return ""
    try:
        return normalize_phone(raw).e164
    except PhoneError:
        return ""


def revont_record_save(*, account: Any, record: CallRecord) -> Call:
    """Create or refresh the Call that mirrors one Revont record."""
    phone = _phone(record.prospect_phone)
    values: dict[str, Any] = {
        "to_number": phone,
        "contact": Contact.objects.filter(phone_e164=phone).first() if phone else None,
        "state": CallState.ENDED if record.ended_at else CallState.RUNNING,
        "outcome": CallOutcome.COMPLETED,
        "vendor_outcome": record.outcome or "",
        "vendor_status": "recorded",
        "summary": record.summary or "",
        "transcript": [
            {
                "speaker": _speaker_role(turn.speaker, record),
                "name": turn.speaker,
                "text": turn.text,
                "start": turn.start,
                "end": turn.end,
            }
            for turn in record.transcript
        ],
        "extracted_variables": {
            "coaching_score": record.coaching_score,
            "sales_outcome": record.outcome,
            "action_items": [
                {"text": item.text, "completed": item.completed} for item in record.action_items
            ],
        },
        "metadata": {
            "rep_id": record.rep_id,
            "rep_name": record.rep_name,
            "prospect_name": record.prospect_name,
            "prospect_email": record.prospect_email,
        },
        "recording_url": record.recording_url or "",
        "duration_seconds": record.duration_seconds,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "last_update_at": timezone.now(),
        "last_payload": dict(record.raw),
        "next_sync_at": None,
    }
    values["common_outcome"] = (
        refine(
            outcome_of_reason(REVONT, record.outcome),
            transcript=values["transcript"],
            extracted_variables={},
            metadata={},
        )
        if record.ended_at
        else ""
    )
    before = (
        Call.objects.filter(vendor_account=account, vendor_call_id=record.id)
        .values_list("state", "transcript")
        .first()
    )
    call, created = Call.objects.update_or_create(
        vendor_account=account, vendor_call_id=record.id, defaults=values
    )
    if call.state == CallState.ENDED and before != (call.state, call.transcript):
        # Ended with a transcript new or changed: measure the conversation after the commit.
        transaction.on_commit(partial(enqueue.measure_conversation, call.pk))
    if created and record.created_at:
        # The call log sorts by when a call happened, not when callops learned of it.
        Call.objects.filter(pk=call.pk).update(created_at=record.created_at)
    return call


def revont_record_refresh(*, account: Any, record_id: str) -> Call:
    """Read one record again (a webhook said its summary or action items changed)."""
    with vendor_client_for(account) as client:
        record = client.get_call(record_id)
    return revont_record_save(account=account, record=record)
