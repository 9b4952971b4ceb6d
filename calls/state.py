"""The call state machine, in one place.

Every vendor status maps to one callops state, every vendor end reason to one outcome (the
vendor's own reason is kept verbatim beside it). That outcome (`Call.outcome`) is the older,
coarser one, kept for the connected rate and the campaign funnel; the one language pages,
rules and analytics speak is `Call.common_outcome`, mapped in calls/outcomes.py.

States only move forward: an older update (a late webhook, a slow poll) never takes a call
back, and a terminal state is final.
"""

from __future__ import annotations

from calls.models import CallOutcome, CallState

# How far along each state is. Ended and failed are both final.
STATE_RANK: dict[str, int] = {
    CallState.PENDING: 0,
    CallState.QUEUED: 1,
    CallState.RUNNING: 2,
    CallState.ENDED: 3,
    CallState.FAILED: 3,
}

TERMINAL = frozenset({CallState.ENDED, CallState.FAILED})

# Vendor statuses, upper-cased, by vendor kind.
VENDOR_STATES: dict[str, dict[str, CallState]] = {
    "revrag": {
        "QUEUED": CallState.QUEUED,
        "RUNNING": CallState.RUNNING,
        "ENDED": CallState.ENDED,
    },
    "voice_platform": {
        "QUEUED": CallState.QUEUED,
        "RINGING": CallState.RUNNING,
        "IN_PROGRESS": CallState.RUNNING,
        "ENDED": CallState.ENDED,
    },
}

# Vendor end reasons, upper-cased, to callops outcomes. Unknown reasons become ERROR so they
# are noticed, and the verbatim reason is still stored.
VENDOR_OUTCOMES: dict[str, dict[str, CallOutcome]] = {
    "revrag": {
        "USER_HANGUP": CallOutcome.HUNG_UP,
        "AGENT_HANGUP": CallOutcome.COMPLETED,
        "MAX_DURATION": CallOutcome.COMPLETED,
        "SILENCE_TIMEOUT": CallOutcome.COMPLETED,
        "USER_REJECTED": CallOutcome.REJECTED,
        "VOICEMAIL_REACHED": CallOutcome.VOICEMAIL,
        "CALL_NOT_PICKED": CallOutcome.NOT_PICKED,
        "CALL_NOT_CONNECTED": CallOutcome.NOT_CONNECTED,
        "CALL_DROPPED": CallOutcome.DROPPED,
        "ERROR_OCCURRED": CallOutcome.ERROR,
    },
    "voice_platform": {
        "COMPLETED": CallOutcome.COMPLETED,
        "AGENT_ENDED": CallOutcome.COMPLETED,
        "USER_HANGUP": CallOutcome.HUNG_UP,
        "NO_ANSWER": CallOutcome.NOT_PICKED,
        "BUSY": CallOutcome.REJECTED,
        "VOICEMAIL": CallOutcome.VOICEMAIL,
        "TRANSFERRED": CallOutcome.TRANSFERRED,
        "FAILED": CallOutcome.ERROR,
    },
}

# Outcomes where a person answered and a conversation happened ("connected" in analytics).
CONNECTED_OUTCOMES = frozenset(
    {CallOutcome.COMPLETED, CallOutcome.HUNG_UP, CallOutcome.TRANSFERRED, CallOutcome.DROPPED}
)


class UnknownVendorState(ValueError):
    """A status the mapping does not know; the update is kept on the timeline, not applied."""


def state_from_vendor(vendor_kind: str, status: str) -> CallState:
    try:
        return VENDOR_STATES[vendor_kind][status.strip().upper()]
    except KeyError:
        raise UnknownVendorState(f"{vendor_kind} status {status!r} is not known") from None


def outcome_from_vendor(vendor_kind: str, reason: str | None) -> CallOutcome | None:
    if not reason:
        return None
    return VENDOR_OUTCOMES.get(vendor_kind, {}).get(reason.strip().upper(), CallOutcome.ERROR)


def moves_forward(current: str, proposed: str) -> bool:
    """Whether `proposed` is a later state than `current` (equal is not a move)."""
    if current in TERMINAL:
        return False
    return STATE_RANK[proposed] > STATE_RANK[current]
