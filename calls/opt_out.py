"""Opt-outs heard on a call: a phrase the person said, or the agent's extracted variable.

When a call ends (before its post-call rules are planned), callops looks for an opt-out; on
one it puts the number on the do-not-call list with where it came from, and cancels the
follow-ups still queued for that number. Follow-ups check the list again right before they
are sent, so one that was already claimed is stopped too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls.models import (
    Call,
    CallEvent,
    CommonOutcome,
    EventSource,
    PostCallAction,
    PostCallStep,
    StepStatus,
)
from calls.outcomes import OPT_OUT_REFINABLE
from calls.selectors import call_transcript
from contacts.models import OptOutSource
from contacts.services import do_not_call_add

# Phrases by language, matched in what the person (not the agent) said, ignoring case, accents
# and the kind of apostrophe. Override with settings.CALLOPS_OPT_OUT_PHRASES.
DEFAULT_OPT_OUT_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "stop calling",
        "remove me from your list",
        "take me off your list",
        "don't call me again",
        "do not call me again",
        "don't call me anymore",
        "put me on your do not call list",
        "add me to your do not call list",
        "unsubscribe me",
    ),
    "es": ("no me llames", "no me llame mas", "no me vuelvan a llamar", "dejen de llamarme"),
    "fr": ("ne m'appelez plus", "arretez de m'appeler", "retirez-moi de votre liste"),
    "de": ("rufen sie mich nicht mehr an", "horen sie auf mich anzurufen"),
}
# Values of an agent's opt-out variable that mean "opted out".
_YES = {"true", "yes", "y", "1", "si", "oui", "ja"}


@dataclass(frozen=True)
class OptOut:
    source: str
    evidence: str
    reason: str


def _plain(text: str) -> str:
    """Lower case, no accents, one kind of apostrophe, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


@cache
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted({_plain(phrase) for phrase in phrases if phrase.strip()}, key=len)
    return re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(p) for p in reversed(alternatives)) + r")(?!\w)"
    )


def opt_out_phrases() -> tuple[str, ...]:
    by_language = getattr(settings, "CALLOPS_OPT_OUT_PHRASES", DEFAULT_OPT_OUT_PHRASES)
    return tuple(phrase for phrases in by_language.values() for phrase in phrases)


def said_opt_out(text: str) -> bool:
    return bool(_pattern(opt_out_phrases()).search(_plain(text)))


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and _plain(value) in _YES


def find_opt_out(call: Call) -> OptOut | None:
    """The first sign in an ended call that the person does not want to be called again."""
    agent = call.agent
    variable = agent.opt_out_variable if agent is not None else ""
    extracted = call.extracted_variables if isinstance(call.extracted_variables, dict) else {}
    if variable and _truthy(extracted.get(variable)):
        value = extracted[variable]
        return OptOut(
            OptOutSource.EXTRACTED_VARIABLE,
            f"{variable} = {value}"[:500],
            f"The agent's variable {variable} said so on call {call.pk}.",
        )
    for number, turn in enumerate(call_transcript(call=call), start=1):
        if turn.speaker != "agent" and said_opt_out(turn.text):
            return OptOut(
                OptOutSource.TRANSCRIPT,
                f"Line {number}, {turn.label}: {turn.text}"[:500],
                f"Asked not to be called on call {call.pk}.",
            )
    return None


def record_opt_out(*, call_id: int) -> OptOut | None:
    """Looks for an opt-out in an ended call; on one, lists the number and cancels the
    follow-ups queued for it (every call of the number, this one included)."""
    call = Call.objects.select_related("agent", "vendor_account").get(pk=call_id)
    found = find_opt_out(call)
    if found is None or not call.to_number:
        return found
    with transaction.atomic():
        _entry, created = do_not_call_add(
            phone_e164=call.to_number,
            reason=found.reason,
            source=found.source,
            call_id=call.pk,
            evidence=found.evidence,
        )
        cancelled = cancel_queued_follow_ups(
            phone_e164=call.to_number,
            reason=f"Cancelled: the contact opted out on call {call.pk}.",
        )
        # The call now reads "Opted out" (calls.outcomes: the ledger names this call).
        Call.objects.filter(pk=call.pk, common_outcome__in=OPT_OUT_REFINABLE).update(
            common_outcome=CommonOutcome.OPTED_OUT
        )
        listed = "Added to the do-not-call list" if created else "Already on the do-not-call list"
        follow_ups = f"; {cancelled} queued follow-up(s) cancelled" if cancelled else ""
        CallEvent.objects.create(
            call=call,
            source=EventSource.SYSTEM,
            message=f"Opt-out heard ({found.evidence}). {listed}{follow_ups}.",
        )
    return found


def cancel_queued_follow_ups(*, phone_e164: str, reason: str) -> int:
    """Follow-ups to this number that no worker has sent yet end skipped, with the reason."""
    return PostCallStep.objects.filter(
        call__to_number=phone_e164,
        action__in=[PostCallAction.FOLLOW_UP, PostCallAction.LIKE_POST],
        status=StepStatus.PENDING,
    ).update(status=StepStatus.SKIPPED, error=reason[:500], finished_at=timezone.now())
