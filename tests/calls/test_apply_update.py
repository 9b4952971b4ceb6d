"""Applying vendor news to a call: forward only, terminal is final, order does not matter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import CallEvent, CallOutcome, CallState
from calls.services import call_apply_update
from calls.state import STATE_RANK
from calls.vendor_calls import CallUpdate
from tests.factories import CallFactory

STARTED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 25, 10, 2, tzinfo=UTC)


def revrag_updates(vendor_call_id: str = "vc-1") -> dict[str, CallUpdate]:
    return {
        "queued": CallUpdate(vendor_call_id=vendor_call_id, status="QUEUED"),
        "running": CallUpdate(vendor_call_id=vendor_call_id, status="RUNNING", started_at=STARTED),
        "ended": CallUpdate(
            vendor_call_id=vendor_call_id,
            status="ENDED",
            reason="CALL_NOT_PICKED",
            started_at=STARTED,
            ended_at=ENDED,
            duration_seconds=120.4,
            summary="Asked for a callback.",
            transcript=[{"speaker": "agent", "text": "Hello", "start": 0.0, "end": 1.0}],
            extracted_variables={"interested": True},
            recording_url="https://api.revrag.ai/rec/vc-1.mp4",
        ),
    }


def test_it_moves_a_call_through_its_lifecycle_with_a_timeline(db):
    call = CallFactory()
    updates = revrag_updates()
    for name in ("queued", "running", "ended"):
        call_apply_update(call_id=call.pk, update=updates[name], source="webhook")
    call.refresh_from_db()
    assert call.state == CallState.ENDED
    assert call.outcome == CallOutcome.NOT_PICKED
    assert call.vendor_outcome == "CALL_NOT_PICKED"
    assert call.duration_seconds == 120
    assert call.next_sync_at is None
    steps = list(CallEvent.objects.filter(call=call).values_list("state_from", "state_to"))
    assert steps == [("pending", "queued"), ("queued", "running"), ("running", "ended")]


def test_it_ignores_an_older_update_after_the_end(db):
    call = CallFactory()
    updates = revrag_updates()
    call_apply_update(call_id=call.pk, update=updates["ended"], source="webhook")
    call_apply_update(call_id=call.pk, update=updates["running"], source="sync")
    call.refresh_from_db()
    assert call.state == CallState.ENDED
    assert call.vendor_status == "ENDED"


def test_it_keeps_an_unknown_status_on_the_timeline_without_applying_it(db):
    call = CallFactory()
    call_apply_update(
        call_id=call.pk, update=CallUpdate(vendor_call_id="x", status="BEAMED_UP"), source="sync"
    )
    call.refresh_from_db()
    assert call.state == CallState.PENDING
    assert "BEAMED_UP" in call.events.last().message


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.lists(st.sampled_from(["queued", "running", "ended"]), min_size=1, max_size=8),
)
def test_it_ends_where_the_latest_news_says_whatever_the_order(order):
    call = CallFactory()
    updates = revrag_updates(vendor_call_id=f"vc-{call.pk}")
    seen_ranks = []
    for name in order:
        call_apply_update(call_id=call.pk, update=updates[name], source="webhook")
        call.refresh_from_db()
        seen_ranks.append(STATE_RANK[call.state])
    # The model: the furthest state delivered, and its data once the end has been seen.
    furthest = max(order, key=["queued", "running", "ended"].index)
    assert call.state == {"queued": "queued", "running": "running", "ended": "ended"}[furthest]
    assert seen_ranks == sorted(seen_ranks)
    if "ended" in order:
        assert call.summary == "Asked for a callback."
        assert call.duration_seconds == 120
        assert call.outcome == CallOutcome.NOT_PICKED
    state_changes = call.events.exclude(state_to="").count()
    assert state_changes == len(set(seen_ranks))
