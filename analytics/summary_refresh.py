"""The analytics summary's refresh: recompute the hours that changed, then their days.

Rule 3 of `analytics.summary`: the refresh (beat, every minute) recomputes just the changed
hours, then the days they belong to, then deletes exactly the change rows it read, all in one
transaction. A crash rolls everything back and the change rows stay; a change committed while a
refresh runs leaves a row the refresh did not read, so it is picked up next time; two refreshes
never run at once (the second finds the state row locked and returns).
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, Model, QuerySet, Sum, Value
from django.db.models.functions import TruncHour
from django.utils import timezone

from analytics.models import (
    CallDaySummary,
    CallHourSummary,
    CallHourTotal,
    DurationDaySummary,
    DurationHourSummary,
    SummaryChange,
    SummaryState,
)
from analytics.summary import (
    DIMENSIONS,
    HISTOGRAM_SLICES,
    SUMMED,
    UTC,
    _zone_name,
    bucket_q,
    buckets_of,
    call_measures,
    calls_in_buckets,
    duration_bucket,
    summary_measures,
)
from analytics.summary_triggers import install_triggers, triggers_installed
from calls.models import Call

CHANGES_PER_BATCH = 20_000
HOURS_PER_BATCH = 24 * 31
_CHUNK = 900  # ids per IN (...): under SQLite's old limit of 999 variables


@dataclass
class RefreshResult:
    status: str = "done"  # done | busy (another refresh holds the lock) | more (time ran out)
    rebuilt: bool = False
    hours: int = 0
    changes: int = 0

    def __str__(self) -> str:
        rebuilt = "rebuilt, " if self.rebuilt else ""
        return f"{self.status}: {rebuilt}{self.hours} hours from {self.changes} changes"


def refresh_summary(*, max_seconds: float = 50.0, tz: tzinfo | None = None) -> RefreshResult:
    """Catch the summary up with every change, a batch per transaction, for up to max_seconds.

    Safe to run twice at once (on PostgreSQL the second returns "busy"; SQLite makes it wait
    for the first) and to kill at any point (the batch in progress rolls back; its change rows
    are still there).
    """
    tz = tz or timezone.get_default_timezone()
    SummaryState.objects.get_or_create(pk=1)
    deadline = clock.monotonic() + max_seconds
    result = RefreshResult()
    while True:
        status = _refresh_batch(tz, result)
        if status != "more":
            result.status = status
            return result
        if clock.monotonic() > deadline:
            result.status = "more"
            return result


def rebuild_summary(*, tz: tzinfo | None = None) -> RefreshResult:
    """Throw the summary away, mark every hour with calls, and catch up (the backfill)."""
    tz = tz or timezone.get_default_timezone()
    SummaryState.objects.get_or_create(pk=1)
    with transaction.atomic():
        state = SummaryState.objects.select_for_update().get(pk=1)
        _invalidate(state, tz)
    result = catch_up(tz=tz)
    result.rebuilt = True
    return result


def catch_up(*, tz: tzinfo | None = None) -> RefreshResult:
    """Refresh until nothing is pending, waiting for a refresh that holds the lock to finish."""
    total = RefreshResult()
    while True:
        result = refresh_summary(max_seconds=float("inf"), tz=tz)
        total.rebuilt |= result.rebuilt
        total.hours += result.hours
        total.changes += result.changes
        if result.status == "done":
            return total
        clock.sleep(0.5)


def _refresh_batch(tz: tzinfo, result: RefreshResult) -> str:
    with transaction.atomic():
        state = SummaryState.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if state is None:
            return "busy"
        if state.time_zone != _zone_name(tz) or not triggers_installed():
            _invalidate(state, tz)
            result.rebuilt = True
            return "more"
        batch = _next_batch()
        if batch is not None:
            hours, change_ids, more = batch
            _recompute(hours, tz)
            _forget(change_ids)
            result.hours += len(hours)
            result.changes += len(change_ids)
        state.refreshed_at = timezone.now()
        state.save(update_fields=["refreshed_at"])
        return "more" if batch is not None and batch[2] else "done"


def _invalidate(state: SummaryState, tz: tzinfo) -> None:
    """Empty the summary and mark every hour that has calls (inside the caller's transaction)."""
    install_triggers()
    for model in SUMMARY_MODELS:
        model.objects.all().delete()
    # Older change rows are covered by the rows below (written after this delete, so a change
    # committed in between is either in their snapshot or has its own row).
    SummaryChange.objects.all().delete()
    every_hour = (
        Call.objects.annotate(changed_hour=TruncHour("created_at", tzinfo=UTC))
        .values("changed_hour")
        .distinct()
        .order_by()
    )
    _insert_rows(SummaryChange, every_hour, {"hour": "changed_hour"})
    state.time_zone = _zone_name(tz)
    state.rebuilt_at = timezone.now()
    state.save(update_fields=["time_zone", "rebuilt_at"])


def _next_batch() -> tuple[list[datetime], list[int], bool] | None:
    """The next hours to recompute, the change rows that asked for them, whether more wait."""
    rows = list(
        SummaryChange.objects.order_by("id").values_list("id", "hour", "call_id")[
            :CHANGES_PER_BATCH
        ]
    )
    if not rows:
        return None
    of_call = _hours_of_calls({call_id for _id, hour, call_id in rows if hour is None and call_id})
    hour_of = {change_id: hour or of_call.get(call_id) for change_id, hour, call_id in rows}
    hours = sorted({hour for hour in hour_of.values() if hour is not None})
    taken = set(hours[:HOURS_PER_BATCH])
    # A review's call that no longer exists names no hour: its deletion marked the hour already.
    done = [change_id for change_id, hour in hour_of.items() if hour is None or hour in taken]
    more = len(rows) == CHANGES_PER_BATCH or len(taken) < len(hours)
    return sorted(taken), done, more


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _hours_of_calls(call_ids: set[int]) -> dict[int, datetime]:
    hours: dict[int, datetime] = {}
    for chunk in _chunks(sorted(call_ids)):
        hours.update(
            Call.objects.filter(pk__in=chunk)
            .annotate(changed_hour=TruncHour("created_at", tzinfo=UTC))
            .values_list("pk", "changed_hour")
        )
    return hours


def _forget(change_ids: list[int]) -> None:
    for chunk in _chunks(change_ids):
        SummaryChange.objects.filter(pk__in=chunk).delete()


SUMMARY_MODELS: tuple[type[Model], ...] = (
    CallHourSummary,
    CallHourTotal,
    CallDaySummary,
    DurationHourSummary,
    DurationDaySummary,
)


def _recompute(utc_hours: list[datetime], tz: tzinfo) -> None:
    """Rewrite the local hours these UTC hours touch, then the days they belong to."""
    buckets = buckets_of(utc_hours, tz)
    days = sorted({day for day, _hour in buckets})
    changed = bucket_q(buckets)
    CallHourSummary.objects.filter(changed).delete()
    DurationHourSummary.objects.filter(changed).delete()
    calls = calls_in_buckets(buckets, tz)
    keys = {"day": "summary_day", "hour": "summary_hour"}
    _insert_rows(
        CallHourSummary,
        calls.values("summary_day", "summary_hour", *DIMENSIONS)
        .annotate(**call_measures())
        .order_by(),
        {**keys, **_columns(DIMENSIONS), **{name: name for name in SUMMED}},
    )
    _insert_rows(DurationHourSummary, _histogram_slices(calls), _HISTOGRAM_COLUMNS)
    CallHourTotal.objects.filter(changed).delete()
    _insert_rows(
        CallHourTotal,
        CallHourSummary.objects.filter(changed)
        .values("day", "hour")
        .annotate(m_calls=Sum("calls"))
        .order_by(),
        {"day": "day", "hour": "hour", "calls": "m_calls"},
    )
    CallDaySummary.objects.filter(day__in=days).delete()
    DurationDaySummary.objects.filter(day__in=days).delete()
    _insert_rows(
        CallDaySummary,
        CallHourSummary.objects.filter(day__in=days)
        .values("day", *DIMENSIONS)
        .annotate(**summary_measures())
        .order_by(),
        {"day": "day", **_columns(DIMENSIONS), **{name: f"m_{name}" for name in SUMMED}},
    )
    _insert_rows(
        DurationDaySummary,
        DurationHourSummary.objects.filter(day__in=days)
        .values("day", "slice", "member", "bucket")
        .annotate(m_calls=Sum("calls"))
        .order_by(),
        {
            "day": "day",
            "slice": "slice",
            "member": "member",
            "bucket": "bucket",
            "calls": "m_calls",
        },
    )


_HISTOGRAM_COLUMNS = {
    "day": "summary_day",
    "hour": "summary_hour",
    "slice": "histogram_slice",
    "member": "histogram_member",
    "bucket": "duration_bucket",
    "calls": "bucket_calls",
}


def _histogram_slices(calls: QuerySet[Call]) -> QuerySet:
    """Every slice's histogram of these calls, as one UNION ALL (one statement to insert)."""
    with_duration = calls.filter(duration_seconds__isnull=False).annotate(
        duration_bucket=duration_bucket()
    )
    slices = [
        with_duration.annotate(
            histogram_slice=Value(name),
            histogram_member=F(column) if column else Value(None, output_field=BigIntegerField()),
        )
        .values(
            "summary_day", "summary_hour", "histogram_slice", "histogram_member", "duration_bucket"
        )
        .annotate(bucket_calls=Count("id"))
        .order_by()
        for name, column in HISTOGRAM_SLICES.items()
    ]
    return slices[0].union(*slices[1:], all=True)


def _columns(dimensions: Iterable[str]) -> dict[str, str]:
    # vendor_account_id → the summary's vendor_account field (same column name).
    return {name.removesuffix("_id"): name for name in dimensions}


def _insert_rows(model: type[Model], rows: QuerySet, columns: dict[str, str]) -> int:
    """INSERT INTO model (fields) SELECT … FROM (rows): the rows never leave the database.

    `columns` maps each field of `model` to the name of a column of `rows`.
    """
    quote = connection.ops.quote_name
    sql, params = rows.query.sql_with_params()
    fields = ", ".join(quote(model._meta.get_field(name).column) for name in columns)
    values = ", ".join(f"source.{quote(alias)}" for alias in columns.values())
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({fields}) SELECT {values} FROM ({sql}) AS source",  # noqa: S608 (names from model metadata)
            params,
        )
        return cursor.rowcount
