"""Analytics figures: the page's parameters and the sums the database computes.

Figures are sums over the analytics summary (calls summed per local day and hour,
analytics/summary.py) plus, for the hours the summary has not caught up with yet, over the calls
themselves; `sources_for` decides which is which, so the figures are exact. Python only adds up
the few grouped rows the sources return.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.db import connection
from django.db.models import Count, F, Q, Sum, Value
from django.http import QueryDict
from django.utils import timezone

from analytics import summary
from analytics.models import (
    CallDaySummary,
    CallHourSummary,
    CallHourTotal,
    DurationDaySummary,
    DurationHourSummary,
    HistogramSlice,
)
from analytics.summary import Sources
from calls.models import Agent, CallOutcome, CallReview, PostCallAction, PostCallStep, StepStatus
from calls.state import CONNECTED_OUTCOMES
from campaigns.models import Campaign
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


STAT_DIMENSIONS = ("vendor_account_id", "state", "outcome", "vendor_outcome", "common_outcome")


def call_stats(params: AnalyticsParams, sources: Sources) -> dict[tuple, dict[str, int]]:
    """{(group, account, state, outcome, vendor reason, common outcome): sums}: every figure but
    the median,
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
    for (group, _account, _state, outcome, _reason, _common), values in stats.items():
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
    """Calls per group and common outcome ("" while not ended), biggest groups first."""
    counts: dict[str, dict[Any, int]] = {}
    for (group, _account, _state, _outcome, _reason, common), values in stats.items():
        per_group = counts.setdefault(common, {})
        per_group[group] = per_group.get(group, 0) + values["calls"]
    return _groups_of(params, _by_calls(_per_group(stats, "calls")), names), counts


def reason_rows(stats: dict[tuple, dict[str, int]], *, limit: int = 15) -> list[tuple[str, int]]:
    """The vendors' disconnection reasons, verbatim, most frequent first."""
    counts: dict[str, int] = {}
    for (_group, _account, _state, _outcome, reason, _common), values in stats.items():
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
    for (group, account, _state, _outcome, _reason, _common), values in stats.items():
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


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    if digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"
