"""Give every stored call its common outcome: the migration's backfill, in set-based UPDATEs.

One UPDATE per slice of ids maps the vendor codes (a CASE built from calls.outcomes'
table), then narrow UPDATEs apply the call's own signs (extracted variables, a handoff)
and a voicemail greeting, whose candidates the database finds by text and Python confirms with
the very function live calls use. No Python loop over calls: a million calls are a few hundred
statements (tests/calls/test_outcome_backfill.py checks the agreement with the live path,
bench/bench_outcome_backfill.py the time at a million calls).

It takes the model classes as arguments so a migration can pass its historical models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import Case, Max, Min, Q, TextField, Value, When
from django.db.models.functions import Cast

from calls.callback_time import CALLBACK_TIME_VARIABLES, asks_by_variables, callback_request_in
from calls.models import CallState
from calls.models import CommonOutcome as Outcome
from calls.outcomes import (
    CALLBACK_VARIABLES,
    CONVERSATION,
    DO_NOT_CALL_WORDS,
    NUMBER_WORDS,
    OPT_OUT_VARIABLES,
    OUTCOME_TABLE,
    TRUE_WORDS,
    VOICEMAIL_CUES,
    sounds_like_voicemail,
)

# Slices of this many ids: each UPDATE is its own short transaction in the migration, so a
# call a webhook is updating waits a second or two at most.
BATCH_SIZE = 10_000
# The cues as one pattern: the database casts each transcript to text once, not once per cue.
# (They are plain words, so they mean the same in Python's and PostgreSQL's regular expressions:
# tests/calls/test_outcomes.py.)
CUES_PATTERN = "(" + "|".join(VOICEMAIL_CUES) + ")"
# Wide on purpose: Python decides among the candidates. "llám" is stored as is (PostgreSQL's
# jsonb) or escaped (SQLite's JSON text: "ll\u00e1m").
CALLBACK_CUES_PATTERN = r"(call|llam|llám|llém|ll\\u00e1m|ll\\u00e9m|vuelv|volver)"


def _spellings(value: str) -> list[str]:
    return sorted({value, value.upper(), value.lower()})


def _vendor_code_case(account_ids_by_kind: dict[str, list[int]]) -> Case:
    """The first step of calls.outcomes.common_outcome_of, as one CASE expression."""
    failed = Q(state=CallState.FAILED)
    whens = [
        When(failed & Q(error_message__icontains=DO_NOT_CALL_WORDS), then=Value(Outcome.OPTED_OUT)),
        When(
            failed & _any_of("error_message__icontains", NUMBER_WORDS),
            then=Value(Outcome.FAILED_NUMBER),
        ),
        When(failed, then=Value(Outcome.FAILED_VENDOR)),
    ]
    ended = Q(state=CallState.ENDED)
    for row in OUTCOME_TABLE:
        ids = account_ids_by_kind.get(row.vendor)
        if row.outcome is None or not ids:
            continue
        whens.append(
            When(
                ended & Q(vendor_account_id__in=ids, vendor_outcome__in=_spellings(row.value)),
                then=Value(row.outcome),
            )
        )
    whens.append(When(ended & Q(vendor_outcome=""), then=Value(Outcome.COMPLETED)))  # no reason
    whens.append(When(ended, then=Value(Outcome.FAILED_VENDOR)))  # a reason no row names
    return Case(*whens, default=Value(""))


def _any_of(lookup: str, values: Any) -> Q:
    q = Q()
    for value in values:
        q |= Q(**{lookup: value})
    return q


def _says(field: str, names: Any) -> Q:
    """calls.outcomes.is_true of any of these extracted variables, in the database."""
    q = Q()
    for name in names:
        q |= _any_of(f"{field}__{name}__iexact", TRUE_WORDS)
    return q


def _slices(calls: Any, batch_size: int) -> Iterator[Any]:
    bounds = calls.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return
    for start in range(bounds["low"], bounds["high"] + 1, batch_size):
        yield calls.filter(pk__gte=start, pk__lt=start + batch_size)


def backfill_common_outcomes(
    call_model: Any,
    account_model: Any,
    do_not_call_model: Any = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Set every call's common outcome from what it stores; returns how many calls it read."""
    ids_by_kind: dict[str, list[int]] = defaultdict(list)
    for pk, kind in account_model.objects.values_list("pk", "kind"):
        ids_by_kind[kind].append(pk)
    case = _vendor_code_case(ids_by_kind)
    calls = call_model.objects.all()
    done = 0
    for part in _slices(calls, batch_size):
        done += part.update(common_outcome=case)
    conversation = Q(common_outcome__in=list(CONVERSATION))
    for part in _slices(calls, batch_size):
        _voicemail_greetings(part.filter(conversation))
        opted_out = _says("extracted_variables", OPT_OUT_VARIABLES)
        if do_not_call_model is not None:  # the ledger names the call the opt-out was heard on
            heard = do_not_call_model.objects.filter(call_id__isnull=False).values("call_id")
            opted_out |= Q(pk__in=heard)
        part.filter(conversation | Q(common_outcome=Outcome.DECLINED), opted_out).update(
            common_outcome=Outcome.OPTED_OUT
        )
        part.filter(conversation).filter(
            _says("extracted_variables", CALLBACK_VARIABLES)
            | (Q(metadata__has_key="handoff") & ~Q(metadata__handoff=None))
        ).update(common_outcome=Outcome.CALLBACK_REQUESTED)
        _callbacks_asked(part.filter(conversation))
    return done


def _callbacks_asked(conversations: Any) -> None:
    """Conversations in which the callee asked to be called back (a callback time extracted, or
    their words): the database finds candidates, Python confirms with the live path's test."""
    has_time = Q()
    for name in CALLBACK_TIME_VARIABLES:
        has_time |= Q(extracted_variables__has_key=name)
    candidates = conversations.annotate(transcript_text=Cast("transcript", TextField())).filter(
        has_time | Q(transcript_text__iregex=CALLBACK_CUES_PATTERN)
    )
    asked = [
        pk
        for pk, transcript, variables in candidates.values_list(
            "pk", "transcript", "extracted_variables"
        ).iterator()
        if asks_by_variables(variables) or callback_request_in(transcript)
    ]
    if asked:
        conversations.filter(pk__in=asked).update(common_outcome=Outcome.CALLBACK_REQUESTED)


def _voicemail_greetings(conversations: Any) -> None:
    """Conversations whose callee greeted like a machine: the database finds the transcripts
    holding a cue anywhere, Python keeps those where the callee's first turns say it."""
    candidates = conversations.annotate(transcript_text=Cast("transcript", TextField())).filter(
        transcript_text__iregex=CUES_PATTERN
    )
    machines = [
        pk
        for pk, transcript in candidates.values_list("pk", "transcript").iterator()
        if sounds_like_voicemail(transcript)
    ]
    if machines:
        conversations.model.objects.filter(pk__in=machines).update(common_outcome=Outcome.VOICEMAIL)
