"""The analytics summary: what it sums, how it learns of changes, and how it catches up.

The analytics page sums calls per local day and hour of the site's time zone
(`dashboard.models.CallHourSummary` / `CallDaySummary`, and the duration histograms beside
them) instead of reading every call. Three rules keep its figures exact:

1. **Every change is recorded in the same transaction as the change.** Database triggers on
   `calls_call` and `calls_callreview` (installed by dashboard/migrations/0005, checked and put
   back by every refresh) append a `SummaryChange` row naming the UTC hour of each call that was
   inserted, deleted or changed in a summed column, or the call whose review changed. Triggers,
   not application code, because calls change in many places (webhooks, sync, campaigns, the
   Revont import, admin deletes, raw SQL) and none of them may be forgotten.
2. **The page reads the summary only for hours nobody changed since.** Hours with a pending
   change (the current hour, a late outcome, a new review) are computed from the calls table
   for just those hours and added to the summary of the others (`sources_for`).
3. **The refresh recomputes just the changed hours**, then the days they belong to, then deletes
   exactly the change rows it read, all in one transaction (`refresh_summary`, run by beat every
   minute). A crash rolls everything back and the change rows stay; a change committed while a
   refresh runs leaves a row the refresh did not read, so it is picked up next time; two
   refreshes never run at once (the second finds the state row locked and returns).

Time zones: rows are keyed by local day and hour in TIME_ZONE, computed by the database from
the UTC timestamps, so whole-hour, half-hour (India, +05:30) and 45-minute (Nepal) offsets and
daylight-saving changes are all exact: a UTC hour whose calls fall in two local hours marks
both dirty. The hour repeated when clocks go back is one local hour (01:00–01:59 holds both),
as it is on a clock. When TIME_ZONE changes, every row is keyed wrongly: the page reads the
calls table until the refresh has rebuilt the summary in the new zone.

The median duration comes from a histogram of durations (DURATION_BUCKETS), so it is an
estimate within half a bucket: see `median_error_seconds`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractHour, TruncDate, TruncHour
from django.utils import timezone

from analytics.models import (
    HistogramSlice,
    SummaryChange,
    SummaryState,
)
from analytics.summary_triggers import triggers_installed
from calls.models import Call

UTC = ZoneInfo("UTC")
Bucket = tuple[date, int]  # a local day and hour (0–23)

# --- What is summed ------------------------------------------------------------------------------

# The call columns the summary is grouped by; a change to any of them (or to created_at or
# duration_seconds) marks the call's hour.
DIMENSIONS = (
    "vendor_account_id",
    "agent_id",
    "campaign_id",
    "state",
    "outcome",
    "vendor_outcome",
    "common_outcome",
)
SUMMED = ("calls", "duration_count", "duration_sum", "reviewed", "rated", "rating_sum")
# The call column each histogram slice is per (None: every call together).
HISTOGRAM_SLICES = {
    HistogramSlice.ALL: None,
    HistogramSlice.ACCOUNT: "vendor_account_id",
    HistogramSlice.AGENT: "agent_id",
    HistogramSlice.CAMPAIGN: "campaign_id",
}

# Durations are counted in buckets: below 300 s buckets 5 s wide, below 900 s 15 s wide, and so
# on; 86,400 s (a day) and longer share one open bucket.
DURATION_BUCKETS = ((300, 5), (900, 15), (3600, 60), (7200, 300), (86_400, 3600))
OPEN_BUCKET = 86_400


def call_measures() -> dict[str, Any]:
    """The sums of one group of calls, exactly as the summary rows hold them."""
    return {
        "calls": Count("id"),
        "duration_count": Count("duration_seconds"),
        "duration_sum": Coalesce(Sum("duration_seconds"), Value(0), output_field=BigIntegerField()),
        "reviewed": Count("id", filter=Q(review__is_reviewed=True)),
        "rated": Count("review__rating"),
        "rating_sum": Coalesce(Sum("review__rating"), Value(0), output_field=BigIntegerField()),
    }


def summary_measures() -> dict[str, Any]:
    """The same sums over summary rows (named m_<measure>: a model field cannot be re-annotated)."""
    return {f"m_{name}": Sum(name) for name in SUMMED}


def duration_bucket(field: str = "duration_seconds") -> Case:
    """The first second of the bucket a duration falls in."""
    return Case(
        *(
            When(**{f"{field}__lt": upper}, then=F(field) / width * width)
            for upper, width in DURATION_BUCKETS
        ),
        default=Value(OPEN_BUCKET),
        output_field=IntegerField(),
    )


def bucket_of(seconds: int) -> int:
    """The bucket a duration falls in, as duration_bucket() computes it in the database."""
    for upper, width in DURATION_BUCKETS:
        if seconds < upper:
            return seconds // width * width
    return OPEN_BUCKET


def bucket_width(first: int) -> int | None:
    """The width of the bucket starting at `first` seconds; None for the open one."""
    for upper, width in DURATION_BUCKETS:
        if first < upper:
            return width
    return None


def bucket_value(first: int) -> float:
    """The value a bucket stands for: its middle (durations are whole seconds)."""
    width = bucket_width(first)
    return float(first) if width is None else first + (width - 1) / 2


def median_from_histogram(histogram: dict[int, int]) -> float | None:
    """The median estimated from {bucket: calls}: each middle value replaced by its bucket's
    middle, averaged when there are two (as percentile_cont(0.5) averages them)."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = sorted({(total - 1) // 2, total // 2})
    values: list[float] = []
    seen = 0
    for first in sorted(histogram):
        seen += histogram[first]
        while wanted and wanted[0] < seen:
            values.append(bucket_value(first))
            wanted.pop(0)
    return sum(values) / len(values)


def median_error_seconds(median: float) -> float | None:
    """The most the estimate can differ from the exact median near this value (half a bucket)."""
    width = bucket_width(int(median))
    return None if width is None else (width - 1) / 2


def median_error_note() -> str:
    """How close the median is, in words, for medians of ordinary calls (up to two hours)."""
    return ", ".join(
        f"±{_seconds((width - 1) / 2)} up to {_seconds(upper)}"
        for upper, width in DURATION_BUCKETS[:4]
    )


def _seconds(value: float) -> str:
    if value >= 60 and value % 60 == 0:
        minutes = int(value // 60)
        return f"{minutes // 60} h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes} min"
    return f"{value:g} s"


# --- Local days and hours ------------------------------------------------------------------------


def local_day(tz: tzinfo) -> TruncDate:
    return TruncDate("created_at", tzinfo=tz)


def local_hour(tz: tzinfo) -> ExtractHour:
    return ExtractHour("created_at", tzinfo=tz)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), tz)


def buckets_of_hour(utc_hour: datetime, tz: tzinfo) -> set[Bucket]:
    """The local hours a UTC hour overlaps: one for whole-hour offsets, two for half-hour ones."""
    first = utc_hour.astimezone(tz)
    last = (utc_hour + timedelta(hours=1) - timedelta(microseconds=1)).astimezone(tz)
    if first.utcoffset() == last.utcoffset():
        return {(first.date(), first.hour), (last.date(), last.hour)}
    # The offset changes inside this hour (daylight saving): look at every minute of it.
    minutes = (utc_hour + timedelta(minutes=n) for n in range(60))
    return {(local.date(), local.hour) for local in (m.astimezone(tz) for m in minutes)} | {
        (last.date(), last.hour)
    }


def buckets_of(utc_hours: Iterable[datetime], tz: tzinfo) -> set[Bucket]:
    buckets: set[Bucket] = set()
    for hour in utc_hours:
        buckets |= buckets_of_hour(hour, tz)
    return buckets


def bucket_q(buckets: Iterable[Bucket], day: str = "day", hour: str = "hour") -> Q:
    """Rows of exactly these local hours (a whole day as one condition when all its hours are)."""
    by_day: dict[date, set[int]] = {}
    for bucket_day, bucket_hour in buckets:
        by_day.setdefault(bucket_day, set()).add(bucket_hour)
    conditions = [
        Q(**{day: bucket_day})
        if len(hours) == 24
        else Q(**{day: bucket_day, f"{hour}__in": sorted(hours)})
        for bucket_day, hours in sorted(by_day.items())
    ]
    return reduce(operator.or_, conditions, Q(pk__in=[]))


def bucket_window(bucket: Bucket, tz: tzinfo) -> tuple[datetime, datetime]:
    """UTC instants [start, end) that hold every instant of this local hour: exactly its hour
    on ordinary days; both occurrences when clocks go back (the earliest start, the latest end
    over both readings of an ambiguous time), and possibly instants of a neighbouring hour
    around a clock change (then the local day and hour decide, see _call_conditions)."""
    day, hour = bucket
    start = datetime.combine(day, time(hour))
    end = start + timedelta(hours=1)
    return (
        min(start.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)),
        max(end.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)),
    )


def _is_exact(bucket: Bucket, window: tuple[datetime, datetime], tz: tzinfo) -> bool:
    """Whether the window holds this local hour's instants and nothing else (no clock change)."""
    start, end = window
    first, last = start.astimezone(tz), (end - timedelta(microseconds=1)).astimezone(tz)
    return (
        end - start == timedelta(hours=1)
        and first.utcoffset() == last.utcoffset()
        and (first.date(), first.hour, first.minute) == (bucket[0], bucket[1], 0)
    )


def _call_conditions(
    buckets: Iterable[Bucket], tz: tzinfo
) -> tuple[list[tuple[datetime, datetime]], list[Q]]:
    """These local hours as plain created_at ranges (contiguous hours merged), which the
    database reads from its covering index alone, and, for an hour around a clock change, its
    window and its local day and hour."""
    ranges: list[tuple[datetime, datetime]] = []
    around_changes: list[Q] = []
    for bucket in sorted(buckets):
        window = bucket_window(bucket, tz)
        if not _is_exact(bucket, window, tz):
            around_changes.append(
                Q(created_at__gte=window[0], created_at__lt=window[1])
                & bucket_q([bucket], "summary_day", "summary_hour")
            )
        elif ranges and window[0] == ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], window[1])
        else:
            ranges.append(window)
    return ranges, around_changes


def calls_with_local_time(tz: tzinfo) -> QuerySet[Call]:
    """Calls annotated with the local day and hour their summary row is keyed by."""
    return Call.objects.annotate(summary_day=local_day(tz), summary_hour=local_hour(tz))


def calls_in_buckets(buckets: set[Bucket], tz: tzinfo) -> QuerySet[Call]:
    """The calls of exactly these local hours, in one query (the refresh's)."""
    ranges, around_changes = _call_conditions(buckets, tz)
    conditions = [Q(created_at__gte=start, created_at__lt=end) for start, end in ranges]
    return calls_with_local_time(tz).filter(
        reduce(operator.or_, [*conditions, *around_changes], Q(pk__in=[]))
    )


# The unsummarised calls are read as one UNION ALL of plain ranges, this many at most (beyond,
# they are read as one OR of ranges, less efficiently). SQLite allows 500 parts.
MAX_RANGES = 160
# Stand-ins for a range's ends while its query is compiled once for every range.
_START, _END = datetime(1901, 1, 1, tzinfo=UTC), datetime(1901, 1, 2, tzinfo=UTC)


def _unsummarised_columns(calls: QuerySet[Call]) -> QuerySet:
    return (
        calls.annotate(duration_bucket=duration_bucket())
        .values("id", "summary_day", "summary_hour", *UNSUMMARISED_COLUMNS)
        .order_by()  # no ORDER BY inside a UNION ALL
    )


def calls_table_sql(
    ranges: Sequence[tuple[datetime, datetime]], conditions: Sequence[Q], tz: tzinfo
) -> tuple[str, list[Any]]:
    """The calls in these created_at ranges or meeting these conditions, as one derived table.

    One part per range, combined with UNION ALL, so each is a plain range the database reads
    from the covering index alone (an OR of ranges makes it fetch every wide call row). The
    part's query is compiled once by the ORM and its two range parameters swapped per range:
    compiling dozens of near-identical querysets would cost more than running them.
    """
    parts: list[tuple[str, list[Any]]] = []
    base = calls_with_local_time(tz)
    if len(ranges) > MAX_RANGES:
        either = (Q(created_at__gte=start, created_at__lt=end) for start, end in ranges)
        conditions = [reduce(operator.or_, either), *conditions]
        ranges = []
    if ranges:
        template = _unsummarised_columns(base.filter(created_at__gte=_START, created_at__lt=_END))
        sql, params = template.query.sql_with_params()
        adapt = connection.ops.adapt_datetimefield_value
        start_at, end_at = list(params).index(adapt(_START)), list(params).index(adapt(_END))
        for start, end in ranges:
            values = list(params)
            values[start_at], values[end_at] = adapt(start), adapt(end)
            parts.append((sql, values))
    for condition in conditions:
        sql, params = _unsummarised_columns(base.filter(condition)).query.sql_with_params()
        parts.append((sql, list(params)))
    return (
        " UNION ALL ".join(sql for sql, _params in parts),
        [value for _sql, values in parts for value in values],
    )


# Columns of the unsummarised calls' derived table besides id and the local day and hour.
UNSUMMARISED_COLUMNS = (*DIMENSIONS, "duration_seconds", "duration_bucket")


def query_calls_table(
    sources: Sources, select: Sequence[str], group_by: Sequence[str], tail: str = ""
) -> list[tuple]:
    """SELECT select FROM the unsummarised calls (as `calls`) [tail] GROUP BY group_by."""
    if sources.calls_table is None:
        return []
    sql, params = sources.calls_table
    query = (
        f"SELECT {', '.join(select)} FROM ({sql}) AS calls {tail} "  # noqa: S608 (our own SQL)
        f"GROUP BY {', '.join(group_by)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def as_date(value: Any) -> Any:
    """A date from a raw query: SQLite hands dates back as text."""
    return date.fromisoformat(value) if isinstance(value, str) else value


# --- Where the page reads from -------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """Where a range's figures come from.

    The day tables hold every day of the range as of its last refresh (`day_filter`). For the
    local hours changed since, their rows in the hour tables (`stale_filter`) are taken away and
    their calls (`calls`) added instead: a day's rows are always the sum of its hours' rows (the
    refresh rewrites both in one transaction), so what remains is exact. Without a usable
    summary every figure comes from the calls table.
    """

    using_summary: bool
    day_filter: Q | None
    stale_filter: Q | None
    # CallHourTotal rows of the range's unchanged hours (the heat map needs hours, not days).
    heat_filter: Q | None
    # The calls not summarised: created_at ranges, and conditions for hours around a clock
    # change (see _call_conditions); both empty when the summary covers everything.
    call_ranges: tuple[tuple[datetime, datetime], ...] = ()
    call_conditions: tuple[Q, ...] = ()
    time_zone: tzinfo = UTC
    pending_hours: int = 0

    @property
    def has_calls(self) -> bool:
        return bool(self.call_ranges or self.call_conditions)

    @functools.cached_property
    def calls_table(self) -> tuple[str, list[Any]] | None:
        """The unsummarised calls as one derived table (SQL and parameters, built once for the
        page's few queries over it), with every column they group or sum by."""
        if not self.has_calls:
            return None
        return calls_table_sql(self.call_ranges, self.call_conditions, self.time_zone)


def summary_ready(tz: tzinfo) -> bool:
    built_in = SummaryState.objects.filter(pk=1).values_list("time_zone", flat=True).first()
    return built_in == _zone_name(tz) and triggers_installed()


def _zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def changed_hours(start: datetime, end: datetime) -> set[datetime]:
    """UTC hours in [start, end) with a change the summary has not caught up with: one query."""
    direct = SummaryChange.objects.filter(hour__gte=start, hour__lt=end).values_list("hour")
    reviewed = (
        Call.objects.filter(
            pk__in=SummaryChange.objects.filter(call_id__isnull=False).values("call_id"),
            created_at__gte=start,
            created_at__lt=end,
        )
        .annotate(changed_hour=TruncHour("created_at", tzinfo=UTC))
        .values_list("changed_hour")
        .order_by()
    )
    return {hour for (hour,) in direct.order_by().union(reviewed)}


def sources_for(start: date, end: date, tz: tzinfo, *, use_summary: bool = True) -> Sources:
    """Where the figures of local days start..end (both included) come from right now."""
    start_at, end_before = local_midnight(start, tz), local_midnight(end + timedelta(days=1), tz)
    if not use_summary or not summary_ready(tz):
        return Sources(False, None, None, None, ((start_at, end_before),), time_zone=tz)
    in_range = Q(day__gte=start, day__lte=end)
    hours = changed_hours(start_at - timedelta(days=1), end_before + timedelta(days=1))
    buckets = {bucket for bucket in buckets_of(hours, tz) if start <= bucket[0] <= end}
    if not buckets:
        return Sources(True, in_range, None, in_range)
    changed = bucket_q(buckets)
    ranges, around_changes = _call_conditions(buckets, tz)
    return Sources(
        using_summary=True,
        day_filter=in_range,
        stale_filter=changed,
        heat_filter=in_range & ~changed,
        call_ranges=tuple(ranges),
        call_conditions=tuple(around_changes),
        time_zone=tz,
        pending_hours=len(buckets),
    )
