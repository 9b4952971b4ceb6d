"""Automatic values for scorecard items: what CallCov's analysis, the extracted variables or the
conversation metrics say about an item, for the reviewer to confirm or override.

CallCov's `results` (see vendors/callcov/README.md) hold `compliance` checks, each
`{"passed": bool, ...}`, and `quality` dimensions: `greeting {present, score}`,
`empathy {score}`, `call_structure {score}` (scores 0–1), `interruptions {count}` and
`sentiment {customer, agent}`. callops keeps the newest finished analysis of a call on its
post-call step. Values use the items' coding: pass 1, fail 0, or 1 to 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calls.models import Call, CallConversation, PostCallAction, PostCallStep, StepStatus
from quality.models import ItemKind, ItemSource, ScorecardItem, ThresholdDirection

CALLCOV_COMPLIANCE_CHECKS = {
    "identity_verification": "Identity verification",
    "disclosures": "Disclosures",
    "prohibited_phrases": "Prohibited phrases",
    "sensitive_data": "Sensitive data",
}
CALLCOV_QUALITY_DIMENSIONS = {
    "greeting": "Greeting (score 0–1)",
    "empathy": "Empathy (score 0–1)",
    "call_structure": "Call structure (score 0–1)",
    "interruptions": "Interruptions (count)",
    "sentiment": "Customer sentiment (positive 1, neutral 0.5, negative 0)",
}
METRICS = {
    "agent_talk_share": "Agent talk share (0–1)",
    "agent_longest_monologue_seconds": "Agent's longest monologue (s)",
    "agent_interruptions": "Agent interruptions",
    "customer_interruptions": "Customer interruptions",
    "overlap_seconds": "Overlap (s)",
    "long_silences": "Long silences",
    "longest_silence_seconds": "Longest silence (s)",
    "agent_first_word_seconds": "Time to the agent's first word (s)",
    "response_gap_p50_seconds": "Agent response gap p50 (s)",
    "response_gap_p90_seconds": "Agent response gap p90 (s)",
    "agent_words_per_minute": "Agent words per minute",
    "turns": "Turns",
}
_SENTIMENT = {"positive": 1.0, "neutral": 0.5, "negative": 0.0}
_YES = {"yes", "true", "y", "1", "passed", "pass"}
_NO = {"no", "false", "n", "0", "failed", "fail"}


@dataclass(frozen=True)
class Evidence:
    """What callops knows about a call that items can map to."""

    results: dict[str, Any]
    variables: dict[str, Any]
    conversation: CallConversation | None


@dataclass(frozen=True)
class AutoValue:
    value: int | None
    reason: str


NOTHING = AutoValue(None, "")


def call_evidence(call: Call) -> Evidence:
    step = (
        PostCallStep.objects.filter(
            call=call, action=PostCallAction.ANALYSE, status=StepStatus.DONE
        )
        .order_by("-finished_at", "-id")
        .first()
    )
    results = step.result.get("results") if step and isinstance(step.result, dict) else None
    variables = call.extracted_variables if isinstance(call.extracted_variables, dict) else {}
    return Evidence(
        results=results if isinstance(results, dict) else {},
        variables=variables,
        conversation=CallConversation.objects.filter(call_id=call.pk).first(),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _YES:
            return 1.0
        if text in _NO:
            return 0.0
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _quality_number(key: str, section: Any) -> float | None:
    if not isinstance(section, dict):
        return None
    if key == "sentiment":
        return _SENTIMENT.get(str(section.get("customer", "")).lower())
    for field in ("score", "count", "present", "passed"):
        if field in section:
            return _number(section[field])
    return None


def _passes(item: ScorecardItem, number: float) -> bool:
    if item.direction == ThresholdDirection.AT_MOST:
        return number <= (item.threshold or 0)
    return number >= (item.threshold or 0)


def _coded(item: ScorecardItem, number: float, *, fraction: bool) -> int | None:
    """A number as the item's answer: pass/fail by the threshold (or a yes/no 1/0 without one);
    1 to 5 from a 0–1 fraction, or taken as is when it already is 1 to 5."""
    if item.kind == ItemKind.PASS_FAIL:
        if item.threshold is not None:
            return 1 if _passes(item, number) else 0
        return int(number) if number in (0.0, 1.0) else None
    if fraction and 0 <= number <= 1:
        return 1 + round(4 * number)
    return int(number) if number in (1, 2, 3, 4, 5) else None


def _shown(number: float) -> str:
    return f"{number:g}"


def auto_value(item: ScorecardItem, evidence: Evidence) -> AutoValue:
    """The automatic answer to an item, with the words saying where it came from."""
    key = item.source_key
    if item.source == ItemSource.CALLCOV_COMPLIANCE:
        check = (evidence.results.get("compliance") or {}).get(key)
        passed = check.get("passed") if isinstance(check, dict) else None
        if not isinstance(passed, bool):
            return NOTHING
        label = CALLCOV_COMPLIANCE_CHECKS.get(key, key)
        return AutoValue(int(passed), f"CallCov: {label} {'passed' if passed else 'failed'}")
    if item.source == ItemSource.CALLCOV_QUALITY:
        number = _quality_number(key, (evidence.results.get("quality") or {}).get(key))
        fraction = key != "interruptions"
        where = f"CallCov {key.replace('_', ' ')}"
    elif item.source == ItemSource.VARIABLE:
        number = _number(evidence.variables.get(key))
        fraction = False
        where = f"Variable {key}"
    elif item.source == ItemSource.METRIC:
        conversation = evidence.conversation
        number = _number(getattr(conversation, key, None)) if conversation else None
        fraction = False
        where = METRICS.get(key, key)
    else:
        return NOTHING
    if number is None:
        return NOTHING
    value = _coded(item, number, fraction=fraction)
    if value is None:
        return NOTHING
    return AutoValue(value, f"{where} = {_shown(number)}")
