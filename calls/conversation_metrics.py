"""Writes of conversation metrics: one call when its transcript is final, or every stored call.

The measuring itself is calls/conversation.py (pure). Here: read transcripts, measure, store
one `CallConversation` row per ended call with an upsert, so running either path twice, or
both at once, leaves one row with the latest transcript's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from calls.conversation import ConversationMetrics, measure
from calls.models import Call, CallConversation, CallState

METRIC_FIELDS = tuple(field.name for field in fields(ConversationMetrics))
UPDATE_FIELDS = ("computed_at", *METRIC_FIELDS)
BATCH_SIZE = 2000


def silence_seconds() -> float:
    return float(settings.CALLOPS_SILENCE_SECONDS)


def _row(call_id: int, metrics: ConversationMetrics, now: Any) -> CallConversation:
    values = {name: getattr(metrics, name) for name in METRIC_FIELDS}
    return CallConversation(call_id=call_id, computed_at=now, **values)


def _store(rows: list[CallConversation]) -> None:
    CallConversation.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["call"],
        update_fields=list(UPDATE_FIELDS),
        batch_size=BATCH_SIZE,
    )


def conversation_measure(*, call_id: int) -> CallConversation | None:
    """Measure one ended call's stored transcript; None when the call is not (or no longer)
    an ended call."""
    found = (
        Call.objects.filter(pk=call_id, state=CallState.ENDED)
        .values_list("transcript", flat=True)
        .first()
    )
    if found is None:
        return None
    row = _row(call_id, measure(found, silence_seconds=silence_seconds()), timezone.now())
    _store([row])
    return row


def measured_batches(
    calls: QuerySet[Call], *, batch_size: int = BATCH_SIZE
) -> Iterable[list[tuple[int, ConversationMetrics]]]:
    """The calls' metrics, a batch at a time, read by primary key ranges (keyset), so memory
    stays flat and each query is an index range whatever the table's size."""
    threshold = silence_seconds()
    last = 0
    while True:
        batch = list(
            calls.filter(pk__gt=last).order_by("pk").values_list("pk", "transcript")[:batch_size]
        )
        if not batch:
            return
        last = batch[-1][0]
        yield [(pk, measure(transcript, silence_seconds=threshold)) for pk, transcript in batch]


def conversation_recompute(
    *,
    only_missing: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Measure every ended call again (or only those never measured); returns how many."""
    calls = Call.objects.filter(state=CallState.ENDED)
    if only_missing:
        calls = calls.filter(conversation__isnull=True)
    done = 0
    for batch in measured_batches(calls, batch_size=batch_size):
        now = timezone.now()
        _store([_row(pk, metrics, now) for pk, metrics in batch])
        done += len(batch)
        if progress is not None:
            progress(done)
    return done
