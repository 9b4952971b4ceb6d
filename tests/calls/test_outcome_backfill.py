"""The common outcome is set wherever a call's vendor status or reason is stored, and the
migration's backfill gives stored calls the same outcome the live path would."""

from __future__ import annotations

from datetime import UTC, datetime

from calls.models import Call, CallState
from calls.models import CommonOutcome as Outcome
from calls.opt_out import record_opt_out
from calls.outcome_backfill import backfill_common_outcomes
from calls.outcomes import common_outcome_of
from calls.services import call_apply_update, call_request_handoff
from calls.vendor_calls import CallUpdate
from contacts.models import DoNotCallEntry
from tests.factories import (
    CallFactory,
    DoNotCallEntryFactory,
    VendorAccountFactory,
    VoiceAccountFactory,
)
from vendors.models import VendorAccount, VendorKind

ENDED = datetime(2026, 11, 25, 10, 2, tzinfo=UTC)
GREETING = [
    {"speaker": "agent", "text": "Hi, this is Maya from callops."},
    {"speaker": "customer", "text": "The person you called is not available. Leave a message."},
]


def test_it_sets_the_outcome_when_a_vendor_ends_the_call_and_when_late_data_refines_it(db):
    call = CallFactory()
    ended = CallUpdate(vendor_call_id="vc-9", status="ENDED", reason="SILENCE_TIMEOUT")
    call_apply_update(call_id=call.pk, update=ended, source="webhook")
    call.refresh_from_db()
    assert (call.vendor_outcome, call.common_outcome) == ("SILENCE_TIMEOUT", Outcome.DROPPED)

    # The vendor's later answer carries the transcript: the "silence" was a machine.
    late = CallUpdate(vendor_call_id="vc-9", status="ENDED", reason="SILENCE_TIMEOUT",
                      transcript=GREETING)  # fmt: skip
    call_apply_update(call_id=call.pk, update=late, source="sync")
    call.refresh_from_db()
    assert call.common_outcome == Outcome.VOICEMAIL


def test_it_leaves_a_live_call_without_an_outcome(db):
    call = CallFactory()
    call_apply_update(
        call_id=call.pk, update=CallUpdate(vendor_call_id="vc-1", status="RUNNING"), source="api"
    )
    call.refresh_from_db()
    assert (call.state, call.common_outcome) == (CallState.RUNNING, "")


def test_it_reads_a_handoff_on_an_ended_call_as_a_callback_request(db):
    call = CallFactory(vendor_account=VoiceAccountFactory())
    ended = CallUpdate(vendor_call_id="vp-1", status="ended", reason="completed")
    call_apply_update(call_id=call.pk, update=ended, source="webhook")
    call_request_handoff(call=call, user=None, note="after 5pm")
    call.refresh_from_db()
    assert call.common_outcome == Outcome.CALLBACK_REQUESTED


def _stored_calls() -> list[Call]:
    revrag = VendorAccountFactory()
    voice = VoiceAccountFactory()
    revont = VendorAccountFactory(kind=VendorKind.REVONT, base_url="http://127.0.0.1:9/revont")
    ended = {"state": CallState.ENDED, "ended_at": ENDED}
    specs = [
        (revrag, {"state": CallState.RUNNING, "vendor_status": "RUNNING"}),
        (revrag, {**ended, "vendor_outcome": "CALL_NOT_PICKED"}),
        (revrag, {**ended, "vendor_outcome": "USER_REJECTED"}),
        (revrag, {**ended, "vendor_outcome": "AGENT_HANGUP",
                  "extracted_variables": {"callback_requested": True}}),
        (revrag, {**ended, "vendor_outcome": "AGENT_HANGUP",
                  "extracted_variables": {"callback_requested": "yes", "opted_out": "TRUE"}}),
        (revrag, {**ended, "vendor_outcome": "USER_REJECTED",
                  "extracted_variables": {"do_not_call": True}}),
        (revrag, {**ended, "vendor_outcome": "AGENT_HANGUP", "transcript": GREETING,
                  "extracted_variables": {"callback_requested": True}}),
        (revrag, {**ended, "vendor_outcome": "AGENT_HANGUP",
                  "transcript": [{"speaker": "agent", "text": "Please leave a message."}]}),
        (revrag, {**ended, "vendor_outcome": "SOMETHING_NEW"}),
        (revrag, {**ended, "vendor_outcome": ""}),
        (revrag, {"state": CallState.FAILED, "error_message": "Gave up after 3 attempts."}),
        (revrag, {"state": CallState.FAILED,
                  "error_message": "+14155550100 was added to the do-not-call list."}),
        (revrag, {"state": CallState.FAILED, "error_message": "phone must be in E.164 format"}),
        (voice, {**ended, "vendor_outcome": "busy"}),
        (voice, {**ended, "vendor_outcome": "no_answer"}),
        (voice, {**ended, "vendor_outcome": "transferred"}),
        (voice, {**ended, "vendor_outcome": "completed", "metadata": {"handoff": {"note": ""}}}),
        (voice, {**ended, "vendor_outcome": "completed", "metadata": {"handoff": None}}),
        (revont, {**ended, "vendor_outcome": "follow_up"}),
        (revont, {**ended, "vendor_outcome": "lost"}),
        (revont, {**ended, "vendor_outcome": "no_outcome", "transcript": GREETING}),
        # The callee asked for a callback in words, or the agent extracted a time (or nothing).
        (revrag, {**ended, "vendor_outcome": "USER_HANGUP",
                  "transcript": [{"speaker": "user", "text": "Llámame mañana, por favor"}]}),
        (revrag, {**ended, "vendor_outcome": "AGENT_HANGUP",
                  "transcript": [{"speaker": "agent", "text": "Shall I call you back?"}]}),
        (revrag, {**ended, "vendor_outcome": "AGENT_HANGUP",
                  "extracted_variables": {"callback_time": "tomorrow 15:00"}}),
        (revrag, {**ended, "vendor_outcome": "AGENT_HANGUP",
                  "extracted_variables": {"callback_time": None, "preferred_callback_time": ""}}),
    ]  # fmt: skip
    calls = [CallFactory(vendor_account=account, agent=None, **values) for account, values in specs]
    # The opt-out ledger listed the number from this conversation (calls/opt_out.py).
    listed = CallFactory(vendor_account=revrag, agent=None, vendor_outcome="USER_HANGUP", **ended)
    DoNotCallEntryFactory(phone_e164=listed.to_number, call_id=listed.pk)
    calls.append(listed)
    # As a database upgraded from before the column: every call without an outcome.
    Call.objects.update(common_outcome="")
    return calls


def test_it_backfills_stored_calls_as_the_live_path_would(db):
    calls = _stored_calls()
    read = backfill_common_outcomes(Call, VendorAccount, DoNotCallEntry, batch_size=4)
    assert read == len(calls)
    got = dict(Call.objects.values_list("pk", "common_outcome"))
    expected = {call.pk: common_outcome_of(call) for call in calls}
    assert got == expected
    assert [got[call.pk] for call in calls] == [
        "",
        Outcome.NO_ANSWER,
        Outcome.DECLINED,
        Outcome.CALLBACK_REQUESTED,
        Outcome.OPTED_OUT,
        Outcome.OPTED_OUT,
        Outcome.VOICEMAIL,
        Outcome.COMPLETED,
        Outcome.FAILED_VENDOR,
        Outcome.COMPLETED,
        Outcome.FAILED_VENDOR,
        Outcome.OPTED_OUT,
        Outcome.FAILED_NUMBER,
        Outcome.BUSY,
        Outcome.NO_ANSWER,
        Outcome.TRANSFERRED,
        Outcome.CALLBACK_REQUESTED,
        Outcome.COMPLETED,
        Outcome.CALLBACK_REQUESTED,
        Outcome.DECLINED,
        Outcome.VOICEMAIL,
        Outcome.CALLBACK_REQUESTED,
        Outcome.COMPLETED,
        Outcome.CALLBACK_REQUESTED,
        Outcome.COMPLETED,
        Outcome.OPTED_OUT,
    ]


def test_it_backfills_with_one_update_per_slice_not_one_per_call(db, django_assert_max_num_queries):
    _stored_calls()
    # 26 calls in slices of 50,000: one slice, so a fixed handful of statements.
    with django_assert_max_num_queries(10):
        backfill_common_outcomes(Call, VendorAccount, DoNotCallEntry)


def test_it_reads_an_opt_out_the_ledger_heard_on_the_call_and_keeps_it(db):
    call = CallFactory()
    said = [{"speaker": "customer", "text": "Please stop calling me."}]
    ended = CallUpdate(vendor_call_id="vc-7", status="ENDED", reason="USER_HANGUP", transcript=said)
    call_apply_update(call_id=call.pk, update=ended, source="webhook")
    call.refresh_from_db()
    assert call.common_outcome == Outcome.COMPLETED
    assert record_opt_out(call_id=call.pk) is not None  # as the post-call planning runs it
    assert DoNotCallEntry.objects.filter(call_id=call.pk).exists()
    call.refresh_from_db()
    assert call.common_outcome == Outcome.OPTED_OUT
    call_apply_update(call_id=call.pk, update=ended, source="sync")  # a late poll
    call.refresh_from_db()
    assert call.common_outcome == Outcome.OPTED_OUT
