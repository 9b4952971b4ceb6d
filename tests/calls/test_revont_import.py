"""Importing Revont records with a stored cursor: every record once, resumable after a crash."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from calls.models import Call, CallState, SyncCursor
from calls.revont_import import CURSOR_NAME, IMPORT_LEASE, revont_import


def wait_for_records(sandbox, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sandbox.state("revont")["records"] >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"the sandbox made fewer than {count} Revont records")


@pytest.fixture
def revont(make_account, sandbox):
    wait_for_records(sandbox, 3)
    return make_account("revont")


def test_it_imports_every_record_once_and_resumes_from_the_cursor(revont, sandbox):
    first = revont_import(account=revont)
    assert first >= 3
    assert Call.objects.filter(vendor_account=revont).count() == first
    call = Call.objects.filter(vendor_account=revont).first()
    assert call.state == CallState.ENDED
    assert "rep_name" in call.metadata
    assert SyncCursor.objects.get(vendor_account=revont, name=CURSOR_NAME).cursor

    known = set(Call.objects.filter(vendor_account=revont).values_list("vendor_call_id", flat=True))
    wait_for_records(sandbox, first + 2)
    second = revont_import(account=revont)
    ids = list(Call.objects.filter(vendor_account=revont).values_list("vendor_call_id", flat=True))
    assert len(ids) == len(set(ids)) == first + second
    assert known < set(ids)


def test_it_resumes_after_a_crash_without_gaps_or_duplicates(revont, sandbox, monkeypatch):
    from calls import revont_import as module

    saves = {"count": 0}
    real_save = module.revont_record_save

    def crash_on_the_second_page(*, account, record):
        saves["count"] += 1
        if saves["count"] == 3:
            raise RuntimeError("worker died")
        return real_save(account=account, record=record)

    monkeypatch.setattr(module, "revont_record_save", crash_on_the_second_page)
    monkeypatch.setattr(module, "PAGE_SIZE", 2)
    with pytest.raises(RuntimeError):
        revont_import(account=revont)
    assert Call.objects.filter(vendor_account=revont).count() == 2

    monkeypatch.setattr(module, "revont_record_save", real_save)
    before = set(sandbox.state("revont")["record_ids"])
    revont_import(account=revont)
    after = set(sandbox.state("revont")["record_ids"])
    ids = list(Call.objects.filter(vendor_account=revont).values_list("vendor_call_id", flat=True))
    assert len(ids) == len(set(ids))
    assert before <= set(ids) <= after


def test_it_lets_only_one_import_run_at_a_time(revont):
    state = SyncCursor.objects.create(vendor_account=revont, name=CURSOR_NAME)
    SyncCursor.objects.filter(pk=state.pk).update(locked_until=timezone.now() + IMPORT_LEASE)
    assert revont_import(account=revont) == 0


def test_it_labels_the_rep_and_the_customer_and_keeps_their_names(revont, client_as):
    revont_import(account=revont)
    call = Call.objects.filter(vendor_account=revont).exclude(transcript=[]).first()
    rep_name = call.metadata["rep_name"]
    turns = call.transcript
    assert {turn["speaker"] for turn in turns} == {"agent", "customer"}
    assert all((turn["name"] == rep_name) == (turn["speaker"] == "agent") for turn in turns)

    page = client_as("manager").get(f"/calls/{call.pk}/").content.decode()
    assert f'Rep <span class="turn-name">{rep_name}</span>' in page
    prospect = call.metadata["prospect_name"]
    assert f'Customer <span class="turn-name">{prospect}</span>' in page
    assert 'class="turn-who">Agent' not in page


def test_it_plays_a_revont_recording_from_the_vendor_host(revont, client_as):
    revont_import(account=revont)
    call = Call.objects.filter(vendor_account=revont).first()
    assert call.recording_url.startswith(revont.base_url.rstrip("/").rsplit("/v1", 1)[0])

    answer = client_as("manager").get(f"/calls/{call.pk}/recording", HTTP_RANGE="bytes=0-43")
    assert answer.status_code == 206
    assert answer["Content-Type"] == "audio/wav"
    assert b"".join(answer.streaming_content).startswith(b"RIFF")
