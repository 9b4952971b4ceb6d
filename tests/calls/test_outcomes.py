"""The one outcome language: every vendor value callops knows of has a row, and the rows say
what the README and the vendor documents say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calls.models import CommonOutcome as Outcome
from calls.outcomes import (
    MEANINGS,
    OLD_NAMES,
    OUTCOME_TABLE,
    VOICEMAIL_CUES,
    mapped_values,
    outcome_of_failure,
    outcome_of_reason,
    refine,
    sounds_like_voicemail,
    translate_outcome_names,
)
from calls.state import VENDOR_OUTCOMES, VENDOR_STATES
from simulators import lifecycle
from simulators import revont as revont_sandbox

ROOT = Path(__file__).resolve().parents[2]


def _readings_values(pattern: str) -> set[str]:
    """Values listed in docs/vendor-readings.md, e.g. `end_reason: null|"completed"|...`."""
    text = (ROOT / "docs" / "vendor-readings.md").read_text()
    found = re.search(pattern, text)
    assert found, f"docs/vendor-readings.md no longer lists {pattern!r}"
    return {value.strip('"') for value in found.group(1).split("|")} - {"null"}


def _unmapped(vendor: str, values: set[str]) -> set[str]:
    return {value for value in values if value.upper() not in mapped_values(vendor)}


def test_it_maps_every_vendor_status_and_reason_callops_knows():
    for vendor, statuses in VENDOR_STATES.items():
        assert not _unmapped(vendor, set(statuses)), vendor
    for vendor, reasons in VENDOR_OUTCOMES.items():
        assert not _unmapped(vendor, set(reasons)), vendor


def test_it_maps_every_value_the_sandbox_sends():
    assert not _unmapped("revrag", set(lifecycle.VOICE_END_REASON))
    assert not _unmapped("voice_platform", set(lifecycle.VOICE_END_REASON.values()))
    assert not _unmapped("voice_platform", set(lifecycle.REVRAG_REASON))
    assert not _unmapped("revont", set(revont_sandbox.OUTCOMES))


def test_it_maps_every_value_the_vendor_readings_list():
    end_reasons = _readings_values(r"end_reason: ((?:null\|)?\"[a-z_]+\"(?:\|\"[a-z_]+\")*)")
    statuses = _readings_values(r"phone, status: (\"[a-z_]+\"(?:\|\"[a-z_]+\")*)")
    revont_outcomes = _readings_values(r"outcome: ([a-z_]+(?:\|[a-z_]+)*)")
    assert {"no_answer", "voicemail", "transferred"} <= end_reasons
    assert not _unmapped("voice_platform", end_reasons | statuses)
    assert not _unmapped("revont", revont_outcomes)


def test_it_fails_the_check_for_a_value_without_a_row():
    assert _unmapped("revrag", {"CALL_TELEPORTED"}) == {"CALL_TELEPORTED"}


def test_it_names_all_ten_revrag_reasons_and_every_outcome_once_with_a_meaning():
    reasons = [r.value for r in OUTCOME_TABLE if r.field == "disconnection_reason"]
    assert len(reasons) == len(set(reasons)) == 10
    assert set(MEANINGS) == set(Outcome.values)
    keys = [(r.vendor, r.field, r.value.upper()) for r in OUTCOME_TABLE]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("vendor", "reason", "expected"),
    [
        ("revrag", "VOICEMAIL_REACHED", Outcome.VOICEMAIL),
        ("revrag", "call_not_picked", Outcome.NO_ANSWER),
        ("revrag", "USER_REJECTED", Outcome.DECLINED),
        ("revrag", "CALL_DROPPED", Outcome.DROPPED),
        ("revrag", "CALL_NOT_CONNECTED", Outcome.FAILED_VENDOR),
        ("voice_platform", "busy", Outcome.BUSY),
        ("voice_platform", "transferred", Outcome.TRANSFERRED),
        ("revont", "follow_up", Outcome.CALLBACK_REQUESTED),
        ("revont", None, Outcome.COMPLETED),
        ("revrag", "SOMETHING_NEW", Outcome.FAILED_VENDOR),
        ("revrag", None, Outcome.COMPLETED),
    ],
)
def test_it_maps_a_vendor_code(vendor, reason, expected):
    assert outcome_of_reason(vendor, reason) == expected


def test_it_tells_callops_own_failures_apart():
    assert outcome_of_failure("+14155550101 was added to the do-not-call list") == Outcome.OPTED_OUT
    assert outcome_of_failure("phone must be in E.164 format") == Outcome.FAILED_NUMBER
    assert outcome_of_failure("Gave up after 3 attempts to reach Revrag.") == Outcome.FAILED_VENDOR


MACHINE = [
    {"speaker": "agent", "text": "Hi Ada, this is Maya from callops."},
    {"speaker": "customer", "text": "You have reached Ada. Please leave a message after the tone."},
]


def test_it_keeps_voicemail_cues_plain_words_that_any_regex_engine_reads_alike():
    assert all(re.fullmatch(r"[a-z' ]+", cue) for cue in VOICEMAIL_CUES)


def test_it_hears_a_voicemail_greeting_only_from_the_callee():
    assert sounds_like_voicemail(MACHINE)
    agent_says_it = [{"speaker": "agent", "text": "I will leave a message after the tone."}]
    assert not sounds_like_voicemail(agent_says_it)
    late = [{"speaker": "customer", "text": "Hello?"}, {"speaker": "customer", "text": "Yes."}]
    assert not sounds_like_voicemail([*late, {"speaker": "customer", "text": "leave a message"}])


def test_it_refines_only_conversations_voicemail_first():
    signs = {"transcript": MACHINE, "extracted_variables": {"opted_out": True}, "metadata": {}}
    assert refine(Outcome.COMPLETED, **signs) == Outcome.VOICEMAIL
    assert refine(Outcome.NO_ANSWER, **signs) == Outcome.NO_ANSWER
    said = {"transcript": [], "metadata": {}}
    assert (
        refine(Outcome.COMPLETED, extracted_variables={"opted_out": "Yes"}, **said)
        == Outcome.OPTED_OUT
    )
    assert (
        refine(Outcome.DECLINED, extracted_variables={"do_not_call": 1}, **said)
        == Outcome.OPTED_OUT
    )
    assert (
        refine(Outcome.DROPPED, extracted_variables={"callback_requested": True}, **said)
        == Outcome.CALLBACK_REQUESTED
    )
    assert refine(Outcome.COMPLETED, extracted_variables={"callback_requested": False}, **said) == (
        Outcome.COMPLETED
    )
    handoff = {"transcript": [], "extracted_variables": {}, "metadata": {"handoff": {"note": ""}}}
    assert refine(Outcome.COMPLETED, **handoff) == Outcome.CALLBACK_REQUESTED


def test_it_translates_old_outcome_names_and_keeps_new_ones():
    assert set(OLD_NAMES) == {"completed", "hung_up", "not_picked", "rejected", "voicemail",
                              "dropped", "not_connected", "transferred", "error"}  # fmt: skip
    assert translate_outcome_names(["not_picked", "rejected", "no_answer"]) == [
        "no_answer",
        "busy",
        "declined",
    ]
    assert translate_outcome_names(["completed", "hung_up"]) == [
        "completed",
        "callback_requested",
    ]
    assert translate_outcome_names(["bogus"]) == ["bogus"]
