import pytest

from calls.models import CallOutcome, CallState
from calls.state import (
    VENDOR_OUTCOMES,
    UnknownVendorState,
    moves_forward,
    outcome_from_vendor,
    state_from_vendor,
)

REVRAG_REASONS = [
    "USER_HANGUP",
    "USER_REJECTED",
    "MAX_DURATION",
    "VOICEMAIL_REACHED",
    "AGENT_HANGUP",
    "SILENCE_TIMEOUT",
    "CALL_NOT_PICKED",
    "ERROR_OCCURRED",
    "CALL_NOT_CONNECTED",
    "CALL_DROPPED",
]


def test_it_maps_every_documented_revrag_reason():
    assert sorted(VENDOR_OUTCOMES["revrag"]) == sorted(REVRAG_REASONS)
    assert outcome_from_vendor("revrag", "CALL_NOT_PICKED") == CallOutcome.NOT_PICKED
    assert outcome_from_vendor("revrag", "user_rejected") == CallOutcome.REJECTED


def test_it_maps_unknown_reasons_to_error_and_no_reason_to_none():
    assert outcome_from_vendor("revrag", "SOMETHING_NEW") == CallOutcome.ERROR
    assert outcome_from_vendor("revrag", None) is None


def test_it_maps_vendor_statuses_and_refuses_unknown_ones():
    assert state_from_vendor("revrag", "RUNNING") == CallState.RUNNING
    assert state_from_vendor("voice_platform", "ringing") == CallState.RUNNING
    assert state_from_vendor("voice_platform", "in_progress") == CallState.RUNNING
    with pytest.raises(UnknownVendorState):
        state_from_vendor("revrag", "TELEPORTED")


@pytest.mark.parametrize(
    ("current", "proposed", "expected"),
    [
        (CallState.PENDING, CallState.QUEUED, True),
        (CallState.QUEUED, CallState.ENDED, True),
        (CallState.RUNNING, CallState.QUEUED, False),
        (CallState.RUNNING, CallState.RUNNING, False),
        (CallState.ENDED, CallState.RUNNING, False),
        (CallState.FAILED, CallState.ENDED, False),
        (CallState.ENDED, CallState.FAILED, False),
    ],
)
def test_it_only_moves_forward(current, proposed, expected):
    assert moves_forward(current, proposed) is expected
