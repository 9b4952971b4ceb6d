"""The analytics page's report: each chart with its numbers as a table, from the figures."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.safestring import SafeString

from analytics import summary
from analytics.charts import bar_chart, heat_map, line_chart, stacked_bar_chart
from analytics.figures import (
    MAX_CHART_GROUPS,
    WEEKDAYS,
    AnalyticsParams,
    SummaryRow,
    call_stats,
    cost_rows,
    duration_histograms,
    funnel_rows,
    group_names,
    heat_map_grid,
    outcome_rows,
    reason_rows,
    review_rows,
    summary_rows,
    unsummarised_calls,
)
from analytics.summary import Sources
from calls.models import CallOutcome, CommonOutcome
from calls.state import CONNECTED_OUTCOMES

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
    """A common outcome's label (calls.outcomes), for the outcome charts."""
    if value in CommonOutcome.values:
        return CommonOutcome(value).label
    return value or "No outcome yet"


OUTCOMES_NOTE = (
    "Outcomes in the one language of every vendor; “What the outcomes mean” (under Calls) "
    "says which vendor codes each one covers."
)


def chart_outcomes(
    params: AnalyticsParams, stats: dict[tuple, dict[str, int]], names: dict[Any, str]
) -> Chart:
    groups, counts = outcome_rows(params, stats, names)
    order = [value for value in CommonOutcome.values if value in counts]
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
    return Chart("outcomes", "Outcomes", svg, columns, rows, note=OUTCOMES_NOTE)


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
