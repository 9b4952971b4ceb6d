"""Conversation metrics stored per call: measuring one call when its transcript is final,
recomputing every stored call, and what the call page shows of them.

The measuring itself is calls/conversation.py (pure). Here: read transcripts, measure, store
one `CallConversation` row per ended call with an upsert, so running either path twice, or
both at once, leaves one row with the latest transcript's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from queue import Full, Queue
from threading import Event, Thread
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from calls.conversation import ConversationMetrics, measure
from calls.models import Call, CallConversation, CallState
from vendors.models import VendorKind

METRIC_FIELDS = tuple(field.name for field in fields(ConversationMetrics))
UPDATE_FIELDS = ("computed_at", *METRIC_FIELDS)
BATCH_SIZE = 2000
# Batches read ahead of the measuring (each 2,000 transcripts: a few MB).
READ_AHEAD = 2


def silence_seconds() -> float:
    return float(settings.CALLOPS_SILENCE_SECONDS)


def _row(call_id: int, metrics: ConversationMetrics, now: datetime) -> CallConversation:
    values = {name: getattr(metrics, name) for name in METRIC_FIELDS}
    return CallConversation(call_id=call_id, computed_at=now, **values)


def _store(batch: list[tuple[int, ConversationMetrics]], now: datetime) -> None:
    """Insert or update the batch's rows in one statement."""
    if connection.vendor == "postgresql":
        _store_by_columns(batch, now)
        return
    CallConversation.objects.bulk_create(
        [_row(call_id, metrics, now) for call_id, metrics in batch],
        update_conflicts=True,
        unique_fields=["call"],
        update_fields=list(UPDATE_FIELDS),
        batch_size=BATCH_SIZE,
    )


def _store_by_columns(batch: list[tuple[int, ConversationMetrics]], now: datetime) -> None:
    """PostgreSQL: one array per column, unnested into an INSERT ... ON CONFLICT: 25 query
    parameters per batch instead of 25 per row. Storing a million calls' metrics with
    bulk_create cost more than reading and measuring them."""
    meta = CallConversation._meta
    fields_ = [meta.get_field(name) for name in ("call", "computed_at", *METRIC_FIELDS)]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields_)
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields_)
    updates = ", ".join(
        f"{connection.ops.quote_name(name)} = EXCLUDED.{connection.ops.quote_name(name)}"
        for name in UPDATE_FIELDS
    )
    values = [
        [call_id for call_id, _metrics in batch],
        [now] * len(batch),
        *([getattr(metrics, name) for _call_id, metrics in batch] for name in METRIC_FIELDS),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {meta.db_table} ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608 (the model's own names)
            f"ON CONFLICT ({connection.ops.quote_name('call_id')}) DO UPDATE SET {updates}",
            values,
        )


def conversation_measure(*, call_id: int) -> bool:
    """Measure one ended call's stored transcript; False when the call is not (or no longer)
    an ended call."""
    found = (
        Call.objects.filter(pk=call_id, state=CallState.ENDED)
        .values_list("transcript", flat=True)
        .first()
    )
    if found is None:
        return False
    _store([(call_id, measure(found, silence_seconds=silence_seconds()))], timezone.now())
    return True


Batch = list[tuple[int, Any]]


def _read_batches(calls: QuerySet[Call], batch_size: int) -> Iterator[Batch]:
    """(call id, transcript) pairs by primary key ranges (keyset): memory stays flat and each
    query is an index range whatever the table's size."""
    last = 0
    while True:
        batch = list(
            calls.filter(pk__gt=last).order_by("pk").values_list("pk", "transcript")[:batch_size]
        )
        if not batch:
            return
        last = batch[-1][0]
        yield batch


def transcript_batches(calls: QuerySet[Call], *, batch_size: int = BATCH_SIZE) -> Iterator[Batch]:
    """The calls' transcripts, a batch at a time. On PostgreSQL, outside a transaction, a
    thread reads the next batches (over its own connection) while the caller works on this
    one: the database's time and the measuring overlap instead of adding up. Inside a
    transaction a second connection would not see its rows, so the batches are read in turn."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield from _read_batches(calls, batch_size)
        return
    ahead: Queue[Batch | BaseException | None] = Queue(maxsize=READ_AHEAD)
    stop = Event()

    def hand_over(item: Batch | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in _read_batches(calls, batch_size):
                if not hand_over(batch):
                    return
            hand_over(None)
        except BaseException as exc:  # handed to the caller, raised there
            hand_over(exc)
        finally:
            connection.close()  # this thread's own connection

    reader = Thread(target=read, name="transcript-reader", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def measured_batches(
    calls: QuerySet[Call], *, batch_size: int = BATCH_SIZE
) -> Iterator[list[tuple[int, ConversationMetrics]]]:
    """The calls' metrics, a batch at a time."""
    threshold = silence_seconds()
    for batch in transcript_batches(calls, batch_size=batch_size):
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
        _store(batch, timezone.now())
        done += len(batch)
        if progress is not None:
            progress(done)
    return done


# --- Reads for the call page --------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationFacts:
    """What the call page shows of a call's conversation: labelled lines in human units."""

    rows: list[tuple[str, str]]
    lines: int
    timed: bool
    silence_threshold_seconds: float


UNKNOWN = "—"


def human_seconds(value: float | None) -> str:
    """0.46 → "0.5 s", 4.0 → "4 s", 12.3 → "12 s", 75 → "1 min 15 s"; None → "—"."""
    if value is None:
        return UNKNOWN
    if value < 10:
        tenths = round(value, 1)
        return f"{tenths:g} s"
    whole = round(value)
    minutes, seconds = divmod(whole, 60)
    if not minutes:
        return f"{seconds} s"
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


def _count(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value:,}"


def _per_minute(value: float | None) -> str:
    return UNKNOWN if value is None else f"{round(value):,}"


def _sides(agent_label: str, agent: str, customer: str) -> str:
    if agent == customer == UNKNOWN:
        return UNKNOWN
    return f"{agent_label} {agent} · Customer {customer}"


def conversation_facts(*, call: Call) -> ConversationFacts | None:
    """The call's measured conversation for its page; None while it has not been measured."""
    # Revont's records are human sales reps' calls: their agent side is a rep.
    agent_label = "Rep" if call.vendor_account.kind == VendorKind.REVONT else "Agent"
    m = CallConversation.objects.filter(call_id=call.pk).first()
    if m is None:
        return None
    share = m.agent_talk_share
    if share is None:
        talk = UNKNOWN
    else:
        agent = f"{round(share * 100)} % ({human_seconds(m.agent_talk_seconds)})"
        customer = f"{100 - round(share * 100)} % ({human_seconds(m.customer_talk_seconds)})"
        talk = _sides(agent_label, agent, customer)
    if m.long_silences is None:
        silences = UNKNOWN
    else:
        silences = f"{m.long_silences:,} (longest {human_seconds(m.longest_silence_seconds)})"
    if m.agent_interruptions is None:
        interruptions = UNKNOWN
    else:
        who = _sides(agent_label, _count(m.agent_interruptions), _count(m.customer_interruptions))
        interruptions = f"{who}; {human_seconds(m.overlap_seconds)} spoken over"
    if m.response_gap_p50_seconds is None:
        gap = UNKNOWN
    else:
        answers = "answer" if m.agent_responses == 1 else "answers"
        gap = (
            f"p50 {human_seconds(m.response_gap_p50_seconds)} · "
            f"p90 {human_seconds(m.response_gap_p90_seconds)} ({m.agent_responses} {answers})"
        )
    threshold = f"{m.silence_threshold_seconds:g}"
    rows = [
        ("Talk ratio", talk),
        ("Turns", _count(m.turns)),
        (
            "Longest monologue",
            _sides(
                agent_label,
                human_seconds(m.agent_longest_monologue_seconds),
                human_seconds(m.customer_longest_monologue_seconds),
            ),
        ),
        ("Interruptions", interruptions),
        (f"Silences over {threshold} s", silences),
        (f"{agent_label}'s first word", human_seconds(m.agent_first_word_seconds)),
        (f"{agent_label} response gap", gap),
        (
            "Words per minute",
            _sides(
                agent_label,
                _per_minute(m.agent_words_per_minute),
                _per_minute(m.customer_words_per_minute),
            ),
        ),
        ("Words", _sides(agent_label, _count(m.agent_words), _count(m.customer_words))),
    ]
    return ConversationFacts(
        rows=rows,
        lines=m.lines,
        timed=m.timed,
        silence_threshold_seconds=m.silence_threshold_seconds,
    )
