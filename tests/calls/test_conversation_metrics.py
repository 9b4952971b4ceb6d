"""Conversation metrics stored per call: measured when the transcript is final, recomputable."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from calls import conversation_metrics, enqueue
from calls.conversation_metrics import conversation_measure
from calls.models import Call, CallConversation, CallState
from calls.revont_import import revont_import, revont_record_refresh
from calls.services import call_apply_update
from calls.vendor_calls import CallUpdate
from tests.calls.test_conversation import ALTERNATING
from tests.calls.test_revont_import import wait_for_records
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def ended(transcript: list[dict], vendor_call_id: str = "vc-1") -> CallUpdate:
    return CallUpdate(
        vendor_call_id=vendor_call_id,
        status="ENDED",
        reason="AGENT_HANGUP",
        duration_seconds=21,
        transcript=transcript,
    )


def measure_callbacks(callbacks) -> list:
    return [c for c in callbacks if getattr(c, "func", None) is enqueue.measure_conversation]


def test_it_measures_a_call_once_it_ends_with_its_transcript(django_capture_on_commit_callbacks):
    call = CallFactory(state=CallState.RUNNING, vendor_call_id="vc-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_apply_update(call_id=call.pk, update=ended(ALTERNATING), source="webhook")
    assert len(measure_callbacks(callbacks)) == 1
    stored = CallConversation.objects.get(call=call)
    assert stored.timed is True
    assert stored.turns == 5
    assert stored.long_silences == 1
    assert stored.response_gap_p90_seconds == 1.0
    assert stored.agent_talk_share == pytest.approx(10 / 13.5, abs=1e-4)
    assert stored.silence_threshold_seconds == 3.0


def test_it_does_not_measure_again_when_a_duplicate_end_changes_nothing(
    django_capture_on_commit_callbacks,
):
    call = CallFactory(state=CallState.RUNNING, vendor_call_id="vc-1")
    with django_capture_on_commit_callbacks(execute=True):
        call_apply_update(call_id=call.pk, update=ended(ALTERNATING), source="webhook")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_apply_update(call_id=call.pk, update=ended(ALTERNATING), source="sync")
    assert measure_callbacks(callbacks) == []


def test_it_measures_a_transcript_that_arrives_after_the_end(django_capture_on_commit_callbacks):
    call = CallFactory(state=CallState.RUNNING, vendor_call_id="vc-1")
    with django_capture_on_commit_callbacks(execute=True):
        call_apply_update(call_id=call.pk, update=ended([]), source="webhook")
    assert CallConversation.objects.get(call=call).lines == 0
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_apply_update(call_id=call.pk, update=ended(ALTERNATING), source="sync")
    assert len(measure_callbacks(callbacks)) == 1
    assert CallConversation.objects.get(call=call).lines == 5


def test_it_does_not_measure_a_call_still_running(django_capture_on_commit_callbacks):
    call = CallFactory(state=CallState.QUEUED, vendor_call_id="vc-1")
    running = CallUpdate(vendor_call_id="vc-1", status="RUNNING", transcript=ALTERNATING)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_apply_update(call_id=call.pk, update=running, source="webhook")
    assert measure_callbacks(callbacks) == []
    assert conversation_measure(call_id=call.pk) is False
    assert not CallConversation.objects.exists()


def test_it_measures_revont_calls_as_it_imports_them(
    make_account, sandbox, django_capture_on_commit_callbacks
):
    wait_for_records(sandbox, 3)
    revont = make_account("revont")
    with django_capture_on_commit_callbacks(execute=True):
        imported = revont_import(account=revont)
    ended_calls = Call.objects.filter(vendor_account=revont, state=CallState.ENDED)
    assert imported >= 3
    measured = CallConversation.objects.filter(call__in=ended_calls)
    assert measured.count() == ended_calls.count()
    # The sandbox's Revont transcripts have per-line times and both sides speak.
    assert all(row.timed and row.turns >= 2 for row in measured)
    assert all(0 < row.agent_talk_share < 1 for row in measured)
    # Read again (a summary.ready webhook): the same transcript is not measured again.
    call = ended_calls.first()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        revont_record_refresh(account=revont, record_id=call.vendor_call_id)
    assert measure_callbacks(callbacks) == []


def _ended_call(transcript: list[dict]) -> Call:
    return CallFactory(state=CallState.ENDED, transcript=transcript)


def test_it_recomputes_every_ended_call_in_batches_and_prints_progress():
    calls = [_ended_call(ALTERNATING) for _ in range(3)]
    running = CallFactory(state=CallState.RUNNING, transcript=ALTERNATING)
    out = StringIO()
    call_command("recompute_conversation_metrics", batch_size=2, stdout=out)
    assert set(CallConversation.objects.values_list("call_id", flat=True)) == {
        call.pk for call in calls
    }
    assert not CallConversation.objects.filter(call=running).exists()
    printed = out.getvalue()
    assert "Measuring 3 ended calls" in printed
    assert "2 / 3" in printed and "3 / 3" in printed
    assert "Measured 3 calls" in printed


def test_it_recomputes_with_a_new_silence_threshold(settings):
    call = _ended_call(ALTERNATING)
    call_command("recompute_conversation_metrics", stdout=StringIO())
    assert CallConversation.objects.get(call=call).long_silences == 1
    settings.CALLOPS_SILENCE_SECONDS = 5  # the gaps are 0.5, 1.0, 4.0 and 0.5 s
    call_command("recompute_conversation_metrics", stdout=StringIO())
    stored = CallConversation.objects.get(call=call)
    assert stored.long_silences == 0
    assert stored.silence_threshold_seconds == 5.0


def test_it_measures_only_calls_never_measured_with_missing():
    measured, never = _ended_call(ALTERNATING), _ended_call(ALTERNATING)
    conversation_measure(call_id=measured.pk)
    CallConversation.objects.filter(call=measured).update(turns=99)
    call_command("recompute_conversation_metrics", missing=True, stdout=StringIO())
    assert CallConversation.objects.get(call=measured).turns == 99
    assert CallConversation.objects.get(call=never).turns == 5
    call_command("recompute_conversation_metrics", stdout=StringIO())
    assert CallConversation.objects.get(call=measured).turns == 5


def test_it_refuses_a_batch_size_below_one():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("recompute_conversation_metrics", batch_size=0, stdout=StringIO())


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the read-ahead thread is PostgreSQL's"
)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_it_reads_the_next_batches_in_a_thread_while_measuring(monkeypatch):
    calls = [_ended_call(ALTERNATING) for _ in range(5)]
    readers = []
    read = conversation_metrics._read_batches

    def watched(*args, **kwargs):
        readers.append(threading.current_thread().name)
        yield from read(*args, **kwargs)

    monkeypatch.setattr(conversation_metrics, "_read_batches", watched)
    assert conversation_metrics.conversation_recompute(batch_size=2) == 5
    assert readers == ["transcript-reader"]
    assert set(CallConversation.objects.values_list("call_id", flat=True)) == {
        call.pk for call in calls
    }


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_it_raises_what_the_reading_thread_ran_into(monkeypatch):
    for _ in range(3):
        _ended_call(ALTERNATING)
    read = conversation_metrics._read_batches

    def failing(*args, **kwargs):
        batches = read(*args, **kwargs)
        yield next(batches)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(conversation_metrics, "_read_batches", failing)
    with pytest.raises(RuntimeError, match="went away"):
        conversation_metrics.conversation_recompute(batch_size=2)
    assert CallConversation.objects.count() == 2  # the first batch, stored before
