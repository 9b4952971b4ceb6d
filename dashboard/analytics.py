"""Analytics: aggregations computed in the database, and server-side SVG charts of them.

Figures are sums the database computes over the analytics summary (calls summed per local day
and hour, dashboard/analytics_summary.py) plus, for the hours the summary has not caught up with
yet, over the calls themselves; `sources_for` decides which is which, so the figures are exact.
Python only adds up the few grouped rows the sources return and shapes them into charts and
tables. The charts are SVG built with `_html`, which escapes every argument as format_html does
(numbers aside), so every label (an agent's name, a vendor reason) is escaped; nothing here
marks user text safe.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum, Value
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from calls.models import Agent, CallOutcome, CallReview, PostCallAction, PostCallStep, StepStatus
from calls.state import CONNECTED_OUTCOMES
from campaigns.models import Campaign
from dashboard import analytics_summary as summary
from dashboard.analytics_summary import Sources
from dashboard.models import (
    CallDaySummary,
    CallHourSummary,
    CallHourTotal,
    DurationDaySummary,
    DurationHourSummary,
    HistogramSlice,
)
from vendors.models import VendorAccount

DEFAULT_DAYS = 14
MAX_DAYS = 366
TIME_GROUPINGS = ("day", "week")
GROUPINGS = {
    "day": "Day",
    "week": "Week",
    "account": "Vendor account",
    "agent": "Agent",
    "campaign": "Campaign",
}
# Entity groupings: (the column calls and summary rows share, the model named, label of "none").
_ENTITY: dict[str, tuple[str, Any, str]] = {
    "account": ("vendor_account_id", VendorAccount, "No account"),
    "agent": ("agent_id", Agent, "No agent"),
    "campaign": ("campaign_id", Campaign, "No campaign"),
}
# A chart with more groups than this shows the biggest ones; the table and CSV have them all.
MAX_CHART_GROUPS = 20
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- Parameters ----------------------------------------------------------------------------------


class AnalyticsForm(forms.Form):
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To")
    group = forms.ChoiceField(required=False, choices=list(GROUPINGS.items()), label="Group by")


@dataclass(frozen=True)
class AnalyticsParams:
    start: date
    end: date  # included
    grouping: str = "day"

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_before(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def is_time(self) -> bool:
        return self.grouping in TIME_GROUPINGS

    @property
    def grouping_label(self) -> str:
        return GROUPINGS[self.grouping]

    def query(self, **extra: str) -> str:
        data = QueryDict(mutable=True)
        data.update(
            {"since": self.start.isoformat(), "until": self.end.isoformat(), "group": self.grouping}
        )
        data.update(extra)
        return data.urlencode()


def analytics_params(data: QueryDict, *, today: date | None = None) -> tuple[AnalyticsForm, Any]:
    """The form and the parameters it gives; bad values fall back to the defaults."""
    form = AnalyticsForm(data)
    form.is_valid()
    clean = {name: value for name, value in form.cleaned_data.items() if name not in form.errors}
    today = today or timezone.localdate()
    end = clean.get("until") or today
    start = clean.get("since") or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        start, end = end, start
    if (end - start).days >= MAX_DAYS:
        start = end - timedelta(days=MAX_DAYS - 1)
    return form, AnalyticsParams(start=start, end=end, grouping=clean.get("group") or "day")


# --- Selectors -----------------------------------------------------------------------------------
#
# Each selector runs one grouped query per source (the day summary; the hour summary's rows of
# the changed hours, taken away; the calls of those hours) with the same groups and sums, and
# adds the answers up.


def _summary_group(params: AnalyticsParams) -> F:
    """What summary rows are grouped by: the local day (weeks are made of days), or an id."""
    return F("day") if params.is_time else F(_ENTITY[params.grouping][0])


def _calls_group_column(params: AnalyticsParams) -> str:
    """The same, as a column of the unsummarised calls' derived table."""
    return "summary_day" if params.is_time else _ENTITY[params.grouping][0]


def _group_key(params: AnalyticsParams, value: Any) -> Any:
    if params.grouping == "week" and isinstance(value, date):
        return value - timedelta(days=value.weekday())
    return value


def _sum_sources(
    params: AnalyticsParams,
    sources: Sources,
    *,
    models: tuple[Any, Any],
    dimensions: Sequence[str],
    measures: dict[str, Any],
    calls_rows: list[dict[str, Any]],
    summary_group: Any = None,
) -> dict[tuple, dict[str, int]]:
    """{(group, *dimensions): {measure: total}}: the day summary's rows, less the changed hours'
    rows as the hour summary last saw them, plus `calls_rows` (the unsummarised calls, grouped
    and summed the same way by the caller).

    `measures`: {name: Sum(column)} over summary rows; the first is the count of calls.
    `summary_group`: what summary rows are grouped by (default: the grouping's own column).
    """
    day_model, hour_model = models
    group = summary_group or _summary_group(params)
    # Summed measures are named m_<name>: an annotation may not take a model field's name.
    sums = {f"m_{name}": expression for name, expression in measures.items()}
    # (the prefix of the measure columns, + or -, the grouped rows)
    answers: list[tuple[str, int, Any]] = []
    for model, where, sign in (
        (day_model, sources.day_filter, 1),
        (hour_model, sources.stale_filter, -1),
    ):
        if where is not None:
            rows = model.objects.filter(where).values(*dimensions, group=group)
            answers.append(("m_", sign, rows.annotate(**sums).order_by()))
    answers.append(("", 1, calls_rows))
    totals: dict[tuple, dict[str, int]] = {}
    for prefix, sign, rows in answers:
        for row in rows:
            key = (_group_key(params, row["group"]), *(row[name] for name in dimensions))
            target = totals.setdefault(key, dict.fromkeys(measures, 0))
            for measure in measures:
                target[measure] += sign * (row[prefix + measure] or 0)
    # A group whose only calls were in a changed hour and are gone now adds up to nothing.
    first = next(iter(measures))
    return {key: values for key, values in totals.items() if values[first]}


STAT_DIMENSIONS = ("vendor_account_id", "state", "outcome", "vendor_outcome")


def call_stats(params: AnalyticsParams, sources: Sources) -> dict[tuple, dict[str, int]]:
    """{(group, account, state, outcome, vendor reason): sums}: every figure but the median,
    the heat map and the funnel is added up from these few hundred rows."""
    return _sum_sources(
        params,
        sources,
        models=(CallDaySummary, CallHourSummary),
        dimensions=STAT_DIMENSIONS,
        measures={name: Sum(name) for name in summary.SUMMED},
        calls_rows=_call_stats_of_unsummarised(params, sources),
    )


def _call_stats_of_unsummarised(params: AnalyticsParams, sources: Sources) -> list[dict]:
    """The sums of call_measures() over the unsummarised calls, with their reviews joined once.

    The calls are read in parts from the covering index (see analytics_summary.calls_table_sql);
    joining the reviews inside each part would make the database scan the reviews table once
    per part, so they are joined once, outside.
    """
    quote = connection.ops.quote_name
    reviews = CallReview._meta
    reviewed, rating, call_id = (
        quote(reviews.get_field(name).column) for name in ("is_reviewed", "rating", "call")
    )
    keys = [f"calls.{quote(name)}" for name in (_calls_group_column(params), *STAT_DIMENSIONS)]
    rows = summary.query_calls_table(
        sources,
        select=[
            *keys,
            "COUNT(*)",
            "COUNT(calls.duration_seconds)",
            "COALESCE(SUM(calls.duration_seconds), 0)",
            f"SUM(CASE WHEN review.{reviewed} THEN 1 ELSE 0 END)",
            f"COUNT(review.{rating})",
            f"COALESCE(SUM(review.{rating}), 0)",
        ],
        group_by=keys,
        tail=f"LEFT JOIN {quote(reviews.db_table)} AS review ON review.{call_id} = calls.id",
    )
    names = ("group", *STAT_DIMENSIONS, *summary.SUMMED)
    return [_typed(params, dict(zip(names, row, strict=True))) for row in rows]


def _typed(params: AnalyticsParams, row: dict[str, Any]) -> dict[str, Any]:
    """A raw query's row as the ORM would give it (SQLite gives dates back as text)."""
    if params.is_time:
        row["group"] = summary.as_date(row["group"])
    return row


_SLICE = {
    "day": HistogramSlice.ALL,
    "week": HistogramSlice.ALL,
    "account": HistogramSlice.ACCOUNT,
    "agent": HistogramSlice.AGENT,
    "campaign": HistogramSlice.CAMPAIGN,
}


def duration_histograms(params: AnalyticsParams, sources: Sources) -> dict[Any, dict[int, int]]:
    """{group: {bucket: calls}}: how long the calls with a duration lasted."""
    in_slice = Q(slice=_SLICE[params.grouping])
    sliced = replace(
        sources,
        day_filter=None if sources.day_filter is None else sources.day_filter & in_slice,
        stale_filter=None if sources.stale_filter is None else sources.stale_filter & in_slice,
    )
    group = f"calls.{connection.ops.quote_name(_calls_group_column(params))}"
    calls_rows = [
        _typed(params, {"group": row[0], "bucket": row[1], "calls": row[2]})
        for row in summary.query_calls_table(
            sources,
            select=[group, "calls.duration_bucket", "COUNT(*)"],
            group_by=[group, "calls.duration_bucket"],
            tail="WHERE calls.duration_seconds IS NOT NULL",
        )
    ]
    totals = _sum_sources(
        params,
        sliced,
        models=(DurationDaySummary, DurationHourSummary),
        dimensions=("bucket",),
        measures={"calls": Sum("calls")},
        summary_group=None if params.is_time else F("member"),
        calls_rows=calls_rows,
    )
    histograms: dict[Any, dict[int, int]] = {}
    for (group, bucket), measures in totals.items():
        histograms.setdefault(group, {})[bucket] = measures["calls"]
    return histograms


@dataclass(frozen=True)
class Group:
    key: Any
    label: str


def group_names(params: AnalyticsParams, keys: Iterable[Any]) -> dict[Any, str]:
    """The names of accounts, agents or campaigns (one query; none for days and weeks)."""
    if params.is_time:
        return {}
    _column, model, _none = _ENTITY[params.grouping]
    ids = [key for key in keys if key is not None]
    return dict(model.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def _groups_of(
    params: AnalyticsParams, keys: Sequence[Any], names: dict[Any, str] | None = None
) -> list[Group]:
    """Every day/week of the range (empty ones too); the groups present, in order, for the
    others, with their names (looked up unless given)."""
    if params.grouping == "day":
        days = (params.end - params.start).days + 1
        return [
            Group(day, day.strftime("%d %b").lstrip("0"))
            for day in (params.start + timedelta(days=n) for n in range(days))
        ]
    if params.grouping == "week":
        monday = params.start - timedelta(days=params.start.weekday())
        weeks = []
        while monday <= params.end:
            weeks.append(Group(monday, "wk " + monday.strftime("%d %b").lstrip("0")))
            monday += timedelta(days=7)
        return weeks
    none_label = _ENTITY[params.grouping][2]
    if names is None:
        names = group_names(params, keys)
    return [
        Group(key, none_label if key is None else names.get(key, f"#{key} (deleted)"))
        for key in keys
    ]


@dataclass(frozen=True)
class SummaryRow:
    group: Group
    calls: int
    connected: int
    avg_duration: float | None
    median_duration: float | None

    @property
    def connected_rate(self) -> float | None:
        return 100.0 * self.connected / self.calls if self.calls else None


def _per_group(stats: dict[tuple, dict[str, int]], *measures: str) -> dict[Any, dict[str, int]]:
    per_group: dict[Any, dict[str, int]] = {}
    for (group, *_rest), values in stats.items():
        target = per_group.setdefault(group, dict.fromkeys(measures, 0))
        for measure in measures:
            target[measure] += values[measure]
    return per_group


def _by_calls(per_group: dict[Any, dict[str, int]], measure: str = "calls") -> list[Any]:
    """Group keys, the most calls first (then by key, so the order never depends on the source)."""
    return sorted(per_group, key=lambda key: (-per_group[key][measure], key is None, key or 0))


def summary_rows(
    params: AnalyticsParams,
    stats: dict[tuple, dict[str, int]],
    histograms: dict[Any, dict[int, int]],
    names: dict[Any, str] | None = None,
) -> list[SummaryRow]:
    """Calls placed, connected, average and (estimated) median duration per group."""
    per_group = _per_group(stats, "calls", "duration_count", "duration_sum")
    connected: dict[Any, int] = {}
    for (group, _account, _state, outcome, _reason), values in stats.items():
        if outcome in CONNECTED_OUTCOMES:
            connected[group] = connected.get(group, 0) + values["calls"]
    rows = []
    for group in _groups_of(params, _by_calls(per_group), names):
        values = per_group.get(group.key, {})
        count = values.get("duration_count", 0)
        rows.append(
            SummaryRow(
                group=group,
                calls=values.get("calls", 0),
                connected=connected.get(group.key, 0),
                avg_duration=values["duration_sum"] / count if count else None,
                median_duration=summary.median_from_histogram(histograms.get(group.key, {})),
            )
        )
    return rows


def outcome_rows(
    params: AnalyticsParams,
    stats: dict[tuple, dict[str, int]],
    names: dict[Any, str] | None = None,
) -> tuple[list[Group], dict[str, dict[Any, int]]]:
    """Calls per group and outcome ("" while not ended), biggest groups first."""
    counts: dict[str, dict[Any, int]] = {}
    for (group, _account, _state, outcome, _reason), values in stats.items():
        per_group = counts.setdefault(outcome, {})
        per_group[group] = per_group.get(group, 0) + values["calls"]
    return _groups_of(params, _by_calls(_per_group(stats, "calls")), names), counts


def reason_rows(stats: dict[tuple, dict[str, int]], *, limit: int = 15) -> list[tuple[str, int]]:
    """The vendors' disconnection reasons, verbatim, most frequent first."""
    counts: dict[str, int] = {}
    for (_group, _account, _state, _outcome, reason), values in stats.items():
        if reason:
            counts[reason] = counts.get(reason, 0) + values["calls"]
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(reason, count) for reason, count in ordered[:limit] if count]


def unsummarised_calls(sources: Sources) -> list[dict[str, Any]]:
    """The calls of the hours the summary has not caught up with, per local day, hour and
    campaign: one query serves the heat map and the funnel's list of campaigns."""
    rows = summary.query_calls_table(
        sources,
        select=["calls.campaign_id", "calls.summary_day", "calls.summary_hour", "COUNT(*)"],
        group_by=["calls.campaign_id", "calls.summary_day", "calls.summary_hour"],
    )
    # (PostgreSQL's EXTRACT gives the hour as a numeric.)
    return [
        {
            "campaign_id": campaign_id,
            "local_day": summary.as_date(day),
            "local_hour": int(hour),
            "count": count,
        }
        for campaign_id, day, hour, count in rows
    ]


def heat_map_grid(
    sources: Sources, unsummarised: list[dict[str, Any]] | None = None
) -> list[list[int]]:
    """Calls per weekday (Monday first) and local hour: summed hours plus unsummarised calls."""
    grid = [[0] * 24 for _ in WEEKDAYS]
    for (day, hour), count in hour_totals(sources, unsummarised).items():
        grid[day.weekday()][hour] += count
    return grid


def hour_totals(
    sources: Sources, unsummarised: list[dict[str, Any]] | None = None
) -> dict[tuple[date, int], int]:
    """Calls per local day and hour: summed hours plus unsummarised calls."""
    rows: list[dict[str, Any]] = []
    if sources.heat_filter is not None:
        rows += (
            CallHourTotal.objects.filter(sources.heat_filter)
            .values(local_day=F("day"), local_hour=F("hour"))
            .annotate(count=Sum("calls"))
            .order_by()
        )
    rows += unsummarised_calls(sources) if unsummarised is None else unsummarised
    totals: dict[tuple[date, int], int] = {}
    for row in rows:
        key = (row["local_day"], row["local_hour"])
        totals[key] = totals.get(key, 0) + row["count"]
    return totals


@dataclass(frozen=True)
class ReviewRow:
    group: Group
    reviews: int
    rated: int
    avg_rating: float | None


def review_rows(
    params: AnalyticsParams,
    stats: dict[tuple, dict[str, int]],
    names: dict[Any, str] | None = None,
) -> list[ReviewRow]:
    """Reviews of the range's calls per group: how many reviewed, how many rated, the average.
    Days and weeks are all listed; accounts, agents and campaigns only when reviewed or rated."""
    per_group = _per_group(stats, "reviewed", "rated", "rating_sum")
    if not params.is_time:
        per_group = {k: v for k, v in per_group.items() if v["reviewed"] or v["rated"]}
    return [
        ReviewRow(
            group=group,
            reviews=per_group.get(group.key, {}).get("reviewed", 0),
            rated=per_group.get(group.key, {}).get("rated", 0),
            avg_rating=(
                per_group[group.key]["rating_sum"] / per_group[group.key]["rated"]
                if per_group.get(group.key, {}).get("rated")
                else None
            ),
        )
        for group in _groups_of(params, _by_calls(per_group, "reviewed"), names)
    ]


@dataclass(frozen=True)
class CostRow:
    group: Group
    minutes: float
    # None when none of the group's calls are on an account with a price.
    cost: Decimal | None
    unpriced_minutes: float


def cost_rows(
    params: AnalyticsParams,
    stats: dict[tuple, dict[str, int]],
    names: dict[Any, str] | None = None,
) -> list[CostRow]:
    """Estimated cost per group: each vendor account's price per minute × its recorded minutes."""
    seconds: dict[Any, dict[int, int]] = {}
    for (group, account, _state, _outcome, _reason), values in stats.items():
        per_account = seconds.setdefault(group, {})
        per_account[account] = per_account.get(account, 0) + values["duration_sum"]
    accounts = {account for per_account in seconds.values() for account in per_account}
    prices = dict(
        VendorAccount.objects.filter(pk__in=accounts, price_per_minute__isnull=False).values_list(
            "pk", "price_per_minute"
        )
    )
    totals = {group: {"seconds": sum(per.values())} for group, per in seconds.items()}
    rows = []
    for group in _groups_of(params, _by_calls(totals, "seconds"), names):
        per_account = seconds.get(group.key, {})
        priced = [(s, prices[account]) for account, s in per_account.items() if account in prices]
        unpriced = sum(s for account, s in per_account.items() if account not in prices)
        rows.append(
            CostRow(
                group=group,
                minutes=sum(per_account.values()) / 60,
                cost=sum((Decimal(s) * price / 60 for s, price in priced), Decimal(0))
                if priced
                else None,
                unpriced_minutes=unpriced / 60,
            )
        )
    return rows


@dataclass(frozen=True)
class FunnelRow:
    campaign_id: int
    name: str
    kind: str
    contacts: int
    dialled: int
    connected: int
    completed: int
    followups: int


def followups_sent(campaign_ids: Sequence[int]) -> dict[int, int]:
    """Contacts of each campaign that a post-call follow-up reached (its Revor job succeeded),
    counted once per number however many calls or rules sent one: one grouped query."""
    rows = (
        PostCallStep.objects.filter(
            action=PostCallAction.FOLLOW_UP,
            status=StepStatus.DONE,
            call__campaign_id__in=list(campaign_ids),
        )
        .values("call__campaign_id")
        .annotate(contacts=Count("call__to_number", distinct=True))
    )
    return {row["call__campaign_id"]: row["contacts"] for row in rows}


def _campaigns_with_calls(
    params: AnalyticsParams, sources: Sources, unsummarised: list[dict[str, Any]] | None
) -> set[int]:
    """Campaigns with calls in the range: summed days, less the changed hours as summed, plus
    those hours' calls (a campaign whose calls there all moved away adds up to none)."""
    counts: dict[int | None, int] = {}
    whole_range = Value(0)  # one group: only whether a campaign has calls matters
    summary_counts = _sum_sources(
        params,
        sources,
        models=(CallDaySummary, CallHourSummary),
        dimensions=("campaign_id",),
        measures={"calls": Sum("calls")},
        calls_rows=[],
        summary_group=whole_range,
    )
    for (_whole_range, campaign_id), values in summary_counts.items():
        counts[campaign_id] = counts.get(campaign_id, 0) + values["calls"]
    for row in unsummarised_calls(sources) if unsummarised is None else unsummarised:
        counts[row["campaign_id"]] = counts.get(row["campaign_id"], 0) + row["count"]
    return {campaign_id for campaign_id, count in counts.items() if campaign_id and count}


def funnel_rows(
    params: AnalyticsParams,
    sources: Sources,
    unsummarised: list[dict[str, Any]] | None = None,
) -> list[FunnelRow]:
    """Each campaign that placed calls in the range or was launched in it, over its whole
    audience, from its dial entries. A native campaign's entries follow the calls the voice
    platform placed (the campaign sync stores each one), so both kinds count the same way and
    agree with the call log."""
    launched = Q(launched_at__gte=params.start_at, launched_at__lt=params.end_before)
    campaigns = list(
        Campaign.objects.filter(
            Q(pk__in=_campaigns_with_calls(params, sources, unsummarised)) | launched
        )
        .annotate(
            contacts=Count("entries"),
            dialled=Count("entries", filter=Q(entries__attempts__gt=0)),
            connected=Count("entries", filter=Q(entries__last_outcome__in=CONNECTED_OUTCOMES)),
            completed=Count("entries", filter=Q(entries__last_outcome=CallOutcome.COMPLETED)),
        )
        .values("pk", "name", "kind", "contacts", "dialled", "connected", "completed")
    )
    followups = followups_sent([campaign["pk"] for campaign in campaigns])
    rows = []
    for campaign in campaigns:
        rows.append(
            FunnelRow(
                campaign_id=campaign["pk"],
                name=campaign["name"],
                kind=campaign["kind"],
                contacts=campaign["contacts"],
                dialled=campaign["dialled"],
                connected=campaign["connected"],
                completed=campaign["completed"],
                followups=followups.get(campaign["pk"], 0),
            )
        )
    rows.sort(key=lambda row: (-row.contacts, -(row.dialled or 0), row.campaign_id))
    return rows


# --- SVG charts ----------------------------------------------------------------------------------

PALETTE = (
    "#2563eb",
    "#16a34a",
    "#f59e0b",
    "#dc2626",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#9ca3af",
    "#78350f",
)
WIDTH = 760
HEIGHT = 344
# BOTTOM holds an x label of MAX_LABEL characters turned 35° plus, below it, the axis title;
# LEFT holds the widest tick ("10,000") beside the turned y-axis title.
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 28, 122
MAX_LABEL = 18


_FORMATTER = string.Formatter()


@functools.cache
def _parsed(template: str) -> tuple[str, tuple[str, ...]]:
    """The template with bare {} fields, and each field's format spec (parsed once)."""
    fields = list(_FORMATTER.parse(template))
    specs = tuple(spec or "" for _text, name, spec, _conv in fields if name is not None)
    plain = "".join(text + ("{}" if name is not None else "") for text, name, _s, _c in fields)
    return plain, specs


def _html(template: str, *args: Any) -> SafeString:
    """format_html with format specs ({:.1f}). Numbers need no escaping (a chart has hundreds
    of them); everything else is escaped."""
    plain, specs = _parsed(template)
    values = [
        format(arg, spec)
        if isinstance(arg, int | float) and not isinstance(arg, bool)
        else conditional_escape(format(arg, spec) if spec else arg)
        for arg, spec in zip(args, specs, strict=True)
    ]
    return mark_safe(plain.format(*values))  # noqa: S308 (every value escaped or a number)


def _join(parts: Sequence[Any]) -> SafeString:
    # conditional_escape keeps format_html's output and escapes anything else.
    return mark_safe("".join(str(conditional_escape(part)) for part in parts))  # noqa: S308


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    if digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _svg(
    title: str, body: Sequence[Any], *, width: int = WIDTH, height: int = HEIGHT
) -> SafeString:
    return _html(
        '<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        width,
        height,
        title,
        title,
        _join(body),
    )


def _frame(top: float, x_title: str, y_title: str, digits: int) -> list[Any]:
    """Grid lines, y-axis tick labels and both axis titles."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts: list[Any] = []
    for step in range(5):
        value = top * step / 4
        y = HEIGHT - BOTTOM - plot_h * step / 4
        parts.append(
            _html(
                '<line class="grid" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#e5e7eb"/>'
                '<text class="tick" x="{}" y="{:.1f}" text-anchor="end" font-size="11">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                y,
                y,
                LEFT - 6,
                y + 4,
                number(value, 0 if value == int(value) else max(digits, 1)),
            )
        )
    parts.append(
        _html(
            '<text class="axis-title" x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>'
            '<text class="axis-title" x="14" y="{}" text-anchor="middle" font-size="12" '
            'transform="rotate(-90 14 {})">{}</text>',
            LEFT + (WIDTH - LEFT - RIGHT) / 2,
            HEIGHT - 6,
            x_title,
            TOP + plot_h / 2,
            TOP + plot_h / 2,
            y_title,
        )
    )
    return parts


def _x_label(x: float, label: str) -> SafeString:
    y = HEIGHT - BOTTOM + 14
    return _html(
        '<text class="x-label" x="{:.1f}" y="{}" text-anchor="end" font-size="11" '
        'transform="rotate(-35 {:.1f} {})"><title>{}</title>{}</text>',
        x,
        y,
        x,
        y,
        label,
        _short(label),
    )


def _legend(names: Sequence[str]) -> list[Any]:
    parts: list[Any] = []
    x = LEFT
    for index, name in enumerate(names):
        parts.append(
            _html(
                '<rect x="{}" y="6" width="10" height="10" fill="{}"/>'
                '<text x="{}" y="15" font-size="11">{}</text>',
                x,
                PALETTE[index % len(PALETTE)],
                x + 14,
                _short(name),
            )
        )
        x += 24 + 7 * len(_short(name))
    return parts


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    x_title: str,
    y_title: str,
    digits: int = 0,
    suffix: str = "",
    links: Sequence[Sequence[str]] | None = None,
) -> SafeString:
    """Vertical bars, one colour per series side by side, each bar's value printed on it.

    links: per series, per label, where its bar leads (the filtered call log)."""
    values = [value for _name, points in series for value in points if value is not None]
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar_w = max(2.0, slot * 0.8 / max(len(series), 1))
    parts = _frame(top, x_title, y_title, digits)
    if len(series) > 1:
        parts += _legend([name for name, _points in series])
    for index, label in enumerate(labels):
        left = LEFT + slot * index + slot * 0.1
        for number_, (name, points) in enumerate(series):
            value = points[index]
            if value is None:
                continue
            h = plot_h * value / top
            x = left + bar_w * number_
            y = HEIGHT - BOTTOM - h
            bar = _html(
                '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                "<title>{}{}: {}{}</title></rect>"
                '<text class="value" x="{:.1f}" y="{:.1f}" text-anchor="middle" '
                'font-size="10">{}{}</text>',
                x,
                y,
                bar_w,
                h,
                PALETTE[number_ % len(PALETTE)],
                f"{name} " if len(series) > 1 else "",
                label,
                number(value, digits),
                suffix,
                x + bar_w / 2,
                y - 3,
                number(value, digits),
                suffix,
            )
            if links is not None:
                bar = _html('<a class="bar-link" href="{}">{}</a>', links[number_][index], bar)
            parts.append(bar)
        parts.append(_x_label(LEFT + slot * (index + 0.5), label))
    return _svg(title, parts)


def line_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    x_title: str,
    y_title: str,
    digits: int = 0,
    suffix: str = "",
) -> SafeString:
    """Lines over time; each point's value printed above it (gaps where there is no value)."""
    values = [value for _name, points in series for value in points if value is not None]
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    parts = _frame(top, x_title, y_title, digits)
    if len(series) > 1:
        parts += _legend([name for name, _points in series])
    for number_, (_name, points) in enumerate(series):
        colour = PALETTE[number_ % len(PALETTE)]
        coords = [
            (LEFT + slot * (index + 0.5), HEIGHT - BOTTOM - plot_h * value / top, value)
            for index, value in enumerate(points)
            if value is not None
        ]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _value in coords)
            parts.append(
                _html(
                    '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
                    path,
                    colour,
                )
            )
        for x, y, value in coords:
            parts.append(
                _html(
                    '<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>'
                    '<text class="value" x="{:.1f}" y="{:.1f}" text-anchor="middle" '
                    'font-size="10">{}{}</text>',
                    x,
                    y,
                    colour,
                    x,
                    y - 6,
                    number(value, digits),
                    suffix,
                )
            )
    for index, label in enumerate(labels):
        parts.append(_x_label(LEFT + slot * (index + 0.5), label))
    return _svg(title, parts)


def stacked_bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    stacks: Sequence[tuple[str, Sequence[int]]],
    x_title: str,
    y_title: str,
) -> SafeString:
    """One bar per label split by category; segment counts printed inside, totals on top."""
    totals = [sum(points[index] for _name, points in stacks) for index in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar_w = slot * 0.7
    parts = _frame(top, x_title, y_title, 0) + _legend([name for name, _points in stacks])
    for index, label in enumerate(labels):
        x = LEFT + slot * index + slot * 0.15
        base = HEIGHT - BOTTOM
        for number_, (name, points) in enumerate(stacks):
            value = points[index]
            if not value:
                continue
            h = plot_h * value / top
            base -= h
            parts.append(
                _html(
                    '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                    "<title>{} — {}: {}</title></rect>",
                    x,
                    base,
                    bar_w,
                    h,
                    PALETTE[number_ % len(PALETTE)],
                    label,
                    name,
                    value,
                )
            )
            if h >= 12:
                parts.append(
                    _html(
                        '<text class="value-in" x="{:.1f}" y="{:.1f}" text-anchor="middle" '
                        'font-size="10" fill="#fff">{}</text>',
                        x + bar_w / 2,
                        base + h / 2 + 4,
                        number(value),
                    )
                )
        parts.append(
            _html(
                '<text class="value" x="{:.1f}" y="{:.1f}" text-anchor="middle" '
                'font-size="10">{}</text>',
                x + bar_w / 2,
                base - 3,
                number(totals[index]),
            )
        )
        parts.append(_x_label(LEFT + slot * (index + 0.5), label))
    return _svg(title, parts)


def heat_map(*, title: str, grid: Sequence[Sequence[int]]) -> SafeString:
    """Weekday rows × hour columns; every cell shows its count, darker for more calls."""
    cell_w, cell_h, left, top_margin = 28, 26, 44, 34
    width = left + cell_w * 24 + 8
    height = top_margin + cell_h * len(grid) + 8
    peak = max((value for row in grid for value in row), default=0)
    parts: list[Any] = [
        _html(
            '<text class="axis-title" x="{}" y="12" text-anchor="middle" font-size="12">'
            "Hour of day ({})</text>",
            left + cell_w * 12,
            timezone.get_current_timezone_name(),
        )
    ]
    for hour in range(24):
        parts.append(
            _html(
                '<text class="tick" x="{}" y="{}" text-anchor="middle" font-size="10">{}</text>',
                left + cell_w * hour + cell_w / 2,
                top_margin - 6,
                f"{hour:02d}",
            )
        )
    for day_index, row in enumerate(grid):
        y = top_margin + cell_h * day_index
        parts.append(
            _html(
                '<text class="tick" x="{}" y="{}" text-anchor="end" font-size="11">{}</text>',
                left - 6,
                y + cell_h / 2 + 4,
                WEEKDAYS[day_index],
            )
        )
        for hour, value in enumerate(row):
            share = value / peak if peak else 0
            # From near-white to the palette's blue; text turns white on dark cells.
            shade = (
                round(239 - (239 - 37) * share),
                round(246 - (246 - 99) * share),
                round(255 - (255 - 235) * share),
            )
            parts.append(
                _html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="rgb({},{},{})" '
                    'stroke="#fff"><title>{} {}:00 — {} calls</title></rect>'
                    '<text x="{}" y="{}" text-anchor="middle" font-size="9" fill="{}">{}</text>',
                    left + cell_w * hour,
                    y,
                    cell_w,
                    cell_h,
                    *shade,
                    WEEKDAYS[day_index],
                    f"{hour:02d}",
                    value,
                    left + cell_w * hour + cell_w / 2,
                    y + cell_h / 2 + 3,
                    "#fff" if share > 0.55 else "#374151",
                    value if value else "",
                )
            )
    return _svg(title, parts, width=width, height=height)


# --- The page's charts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: SafeString
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""
    notes: list[str] = field(default_factory=list)


def _series_chart(params: AnalyticsParams) -> Callable[..., SafeString]:
    return line_chart if params.is_time else bar_chart


def _visible(params: AnalyticsParams, items: list[Any]) -> list[Any]:
    return items if params.is_time else items[:MAX_CHART_GROUPS]


def _rounded(value: float | None, digits: int = 1) -> float | str:
    return "" if value is None else round(value, digits)


def chart_calls(params: AnalyticsParams, rows_: list[SummaryRow]) -> Chart:
    shown = _visible(params, rows_)
    svg = _series_chart(params)(
        title=f"Calls placed by {params.grouping_label.lower()}",
        labels=[row.group.label for row in shown],
        series=[("Calls", [row.calls for row in shown])],
        x_title=params.grouping_label,
        y_title="Calls",
    )
    rows = [
        [
            row.group.label,
            row.calls,
            row.connected,
            _rounded(row.connected_rate),
            _rounded(row.avg_duration),
            _rounded(row.median_duration),
        ]
        for row in rows_
    ]
    columns = [
        params.grouping_label,
        "Calls placed",
        "Connected",
        "Connected rate %",
        "Average duration s",
        "Median duration s (estimate)",
    ]
    return Chart("calls", "Calls placed", svg, columns, rows)


def chart_connected(params: AnalyticsParams, rows_: list[SummaryRow]) -> Chart:
    shown = _visible(params, rows_)
    svg = _series_chart(params)(
        title="Connected rate",
        labels=[row.group.label for row in shown],
        series=[("Connected rate", [row.connected_rate for row in shown])],
        x_title=params.grouping_label,
        y_title="Connected %",
        digits=1,
        suffix="%",
    )
    rows = [
        [row.group.label, row.calls, row.connected, _rounded(row.connected_rate)] for row in rows_
    ]
    columns = [params.grouping_label, "Calls placed", "Connected", "Connected rate %"]
    note = "Connected: the outcome is " + ", ".join(
        sorted(CallOutcome(value).label.lower() for value in CONNECTED_OUTCOMES)
    )
    return Chart("connected", "Connected rate", svg, columns, rows, note=note)


MEDIAN_NOTE = (
    "The median is estimated from a histogram of durations, so it may be off by up to half a "
    f"bucket: {summary.median_error_note()}. The average is exact."
)


def chart_duration(params: AnalyticsParams, rows_: list[SummaryRow]) -> Chart:
    shown = _visible(params, rows_)
    series: list[tuple[str, Sequence[float | None]]] = [
        ("Average", [row.avg_duration for row in shown]),
        ("Median (estimate)", [row.median_duration for row in shown]),
    ]
    svg = bar_chart(
        title="Call duration",
        labels=[row.group.label for row in shown],
        series=series,
        x_title=params.grouping_label,
        y_title="Seconds",
    )
    rows = [
        [row.group.label, _rounded(row.avg_duration), _rounded(row.median_duration)]
        for row in rows_
    ]
    columns = [params.grouping_label, "Average duration s", "Median duration s (estimate)"]
    return Chart("duration", "Average and median duration", svg, columns, rows, note=MEDIAN_NOTE)


def outcome_label(value: str) -> str:
    return CallOutcome(value).label if value in CallOutcome.values else (value or "No outcome yet")


def chart_outcomes(
    params: AnalyticsParams, stats: dict[tuple, dict[str, int]], names: dict[Any, str]
) -> Chart:
    groups, counts = outcome_rows(params, stats, names)
    order = [value for value in CallOutcome.values if value in counts]
    order += sorted(value for value in counts if value not in order)
    shown = _visible(params, groups)
    stacks = [
        (outcome_label(value), [counts[value].get(group.key, 0) for group in shown])
        for value in order
    ]
    svg = stacked_bar_chart(
        title="Outcomes",
        labels=[group.label for group in shown],
        stacks=stacks,
        x_title=params.grouping_label,
        y_title="Calls",
    )
    columns = [params.grouping_label, *(outcome_label(value) for value in order)]
    rows = [
        [group.label, *(counts[value].get(group.key, 0) for value in order)] for group in groups
    ]
    return Chart("outcomes", "Outcomes", svg, columns, rows)


def chart_reasons(stats: dict[tuple, dict[str, int]]) -> Chart:
    reasons = reason_rows(stats)
    svg = bar_chart(
        title="Disconnection reasons",
        labels=[reason for reason, _count in reasons],
        series=[("Calls", [count for _reason, count in reasons])],
        x_title="Vendor disconnection reason (verbatim)",
        y_title="Calls",
    )
    rows = [[reason, count] for reason, count in reasons]
    return Chart("reasons", "Disconnection reasons", svg, ["Vendor reason", "Calls"], rows)


def chart_heat_map(grid: list[list[int]]) -> Chart:
    svg = heat_map(title="Calls per hour", grid=grid)
    rows = [[WEEKDAYS[index], *row] for index, row in enumerate(grid)]
    columns = ["Weekday", *(f"{hour:02d}" for hour in range(24))]
    note = (
        f"Hours in {timezone.get_current_timezone_name()} (the TIME_ZONE setting), by the time "
        "the call was requested."
    )
    if not any(map(any, grid)):
        rows = []
    return Chart("heatmap", "Calls per hour", svg, columns, rows, note=note)


def chart_reviews(
    params: AnalyticsParams, stats: dict[tuple, dict[str, int]], names: dict[Any, str]
) -> Chart:
    reviews = review_rows(params, stats, names)
    shown = _visible(params, reviews)
    svg = bar_chart(
        title="Average review rating",
        labels=[row.group.label for row in shown],
        series=[("Average rating", [row.avg_rating for row in shown])],
        x_title=params.grouping_label,
        y_title="Rating (1–5)",
        digits=1,
    )
    rows = [
        [row.group.label, row.reviews, row.rated, _rounded(row.avg_rating, 2)] for row in reviews
    ]
    columns = [params.grouping_label, "Reviewed", "Rated", "Average rating"]
    return Chart("reviews", "Review scores", svg, columns, rows)


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.quantize(Decimal('0.01')):f}"


def chart_cost(
    params: AnalyticsParams, stats: dict[tuple, dict[str, int]], names: dict[Any, str]
) -> Chart:
    currency = settings.CALLOPS_CURRENCY
    costs = cost_rows(params, stats, names)
    shown = _visible(params, costs)
    svg = bar_chart(
        title=f"Estimated cost ({currency})",
        labels=[row.group.label for row in shown],
        series=[("Cost", [None if row.cost is None else float(row.cost) for row in shown])],
        x_title=params.grouping_label,
        y_title=currency,
        digits=2,
    )
    rows = [
        [row.group.label, _rounded(row.minutes), _money(row.cost), _rounded(row.unpriced_minutes)]
        for row in costs
    ]
    columns = [
        params.grouping_label,
        "Minutes recorded",
        f"Estimated cost {currency}",
        "Minutes without a price",
    ]
    note = (
        "Estimated: each vendor account's price per minute (set by an admin on its connection) "
        "× the minutes callops recorded (durations added up, not rounded per call). Calls on "
        "accounts without a price are counted apart; — where none of a group's calls has one."
    )
    if not any(row.minutes for row in costs):
        rows = []
    return Chart("cost", f"Estimated cost ({currency})", svg, columns, rows, note=note)


FUNNEL_STAGES = ("Contacts", "Dialled", "Connected", "Completed", "Follow-up sent")
FUNNEL_NOTE = (
    "Each campaign that placed calls in the range or was launched in it, over its whole "
    "audience to date. Contacts: its dial entries. Dialled: contacts called at least once. "
    "Connected: contacts whose latest call connected. Completed: contacts whose latest call's "
    "outcome is completed. Follow-up sent: contacts a post-call follow-up reached (its Revor "
    "job succeeded). Native campaigns count the calls the voice platform placed, as callops "
    "stored them (every 30 s while the campaign runs)."
)


def chart_funnel(
    params: AnalyticsParams, sources: Sources, unsummarised: list[dict[str, Any]]
) -> Chart:
    funnel = funnel_rows(params, sources, unsummarised)

    totals = [
        sum(row.contacts for row in funnel),
        sum(row.dialled for row in funnel),
        sum(row.connected for row in funnel),
        sum(row.completed for row in funnel),
        sum(row.followups for row in funnel),
    ]
    svg = bar_chart(
        title="Campaign funnel",
        labels=list(FUNNEL_STAGES),
        series=[("Contacts", totals)],
        x_title="Stage (all campaigns)",
        y_title="Contacts",
    )
    rows = [
        [
            row.name,
            row.contacts,
            row.dialled,
            row.connected,
            row.completed,
            row.followups,
        ]
        for row in funnel
    ]
    return Chart(
        "funnel",
        "Campaign funnel",
        svg,
        ["Campaign", *FUNNEL_STAGES],
        rows,
        note=FUNNEL_NOTE,
    )


CHART_KEYS = (
    "calls",
    "connected",
    "duration",
    "outcomes",
    "reasons",
    "heatmap",
    "reviews",
    "cost",
    "funnel",
)


@dataclass(frozen=True)
class Report:
    charts: list[Chart]
    # False while the summary is being built: every figure came from the calls table.
    using_summary: bool
    # Local hours the summary has not caught up with yet, counted from the calls table.
    pending_hours: int


# Grouping many calls by computed keys (day, hour) sorts or hashes them; with PostgreSQL's
# default 4 MB that spills to disk. Raised for the analytics queries only (it matters while the
# summary is being built and the page reads the calls table).
ANALYTICS_WORK_MEM = "64MB"


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """On PostgreSQL every query of the page sees the same snapshot (REPEATABLE READ), so a
    refresh committing half-way through cannot make an hour count twice or not at all."""
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    if outermost:
        with connection.cursor():
            pass  # connect (and health-check) now: SET TRANSACTION must come first
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # JIT off and no parallel workers: the page's queries are many and short; compiling one
        # (PostgreSQL does above a cost a month of calls reaches) or starting workers for it
        # takes longer than running it, the more so on a busy machine.
        cursor.execute(
            "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true), "
            "set_config('max_parallel_workers_per_gather', '0', true)",
            [ANALYTICS_WORK_MEM],
        )
        yield


_NEEDS_STATS = {"calls", "connected", "duration", "outcomes", "reasons", "reviews", "cost"}
_NEEDS_HISTOGRAM = {"calls", "connected", "duration"}


def analytics_report(
    params: AnalyticsParams, only: str | None = None, *, use_summary: bool = True
) -> Report:
    """The page's charts in order (or only one of them, for its CSV).

    use_summary=False computes every figure straight from the calls table: the reference the
    tests hold the summary to.
    """
    wanted = CHART_KEYS if only is None else (only,)
    with _one_snapshot():
        sources = summary.sources_for(
            params.start, params.end, timezone.get_current_timezone(), use_summary=use_summary
        )
        stats = call_stats(params, sources) if _NEEDS_STATS & set(wanted) else {}
        histograms = duration_histograms(params, sources) if _NEEDS_HISTOGRAM & set(wanted) else {}
        names = group_names(params, {key[0] for key in stats})
        unsummarised = unsummarised_calls(sources) if {"heatmap", "funnel"} & set(wanted) else []
        rows = (
            summary_rows(params, stats, histograms, names) if _NEEDS_HISTOGRAM & set(wanted) else []
        )
        builders: dict[str, Callable[[], Chart]] = {
            "calls": lambda: chart_calls(params, rows),
            "connected": lambda: chart_connected(params, rows),
            "duration": lambda: chart_duration(params, rows),
            "outcomes": lambda: chart_outcomes(params, stats, names),
            "reasons": lambda: chart_reasons(stats),
            "heatmap": lambda: chart_heat_map(heat_map_grid(sources, unsummarised)),
            "reviews": lambda: chart_reviews(params, stats, names),
            "cost": lambda: chart_cost(params, stats, names),
            "funnel": lambda: chart_funnel(params, sources, unsummarised),
        }
        charts = [builders[key]() for key in wanted]
    return Report(charts, sources.using_summary, sources.pending_hours)
