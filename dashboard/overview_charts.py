"""The overview's two small charts: today's calls per hour against yesterday, and today's
outcome mix. Read from the analytics summary (plus the hours it has not caught up with), drawn
by the analytics page's SVG code, every bar a link to the call log it counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from analytics import charts, figures, report, summary
from calls.models import CommonOutcome


@dataclass(frozen=True)
class OverviewCharts:
    today: date
    per_hour: dict[date, list[int]]
    outcomes: list[tuple[str, str, int]]  # (outcome value, label, calls today)
    hours_svg: SafeString
    outcomes_svg: SafeString


def call_log_url(day: date, **filters: str) -> str:
    query = {**filters, "since": day.isoformat(), "until": day.isoformat()}
    return f"{reverse('calls:list')}?{urlencode(query)}"


def overview_charts(today: date | None = None) -> OverviewCharts:
    today = today or timezone.localdate()
    yesterday = today - timedelta(days=1)
    tz = timezone.get_current_timezone()
    totals = figures.hour_totals(summary.sources_for(yesterday, today, tz))
    per_hour = {
        day: [totals.get((day, hour), 0) for hour in range(24)] for day in (yesterday, today)
    }
    params = figures.AnalyticsParams(start=today, end=today)
    stats = figures.call_stats(params, summary.sources_for(today, today, tz))
    counts: dict[str, int] = {}
    for (_day, _account, _state, _outcome, _reason, common), values in stats.items():
        counts[common] = counts.get(common, 0) + values["calls"]
    order = [value for value in CommonOutcome.values if counts.get(value)]
    order += sorted(value for value in counts if value not in CommonOutcome.values)
    outcomes = [(value, report.outcome_label(value), counts[value]) for value in order]
    hours = [f"{hour:02d}" for hour in range(24)]
    hours_svg = charts.bar_chart(
        title="Calls per hour, today against yesterday",
        labels=hours,
        series=[("Yesterday", per_hour[yesterday]), ("Today", per_hour[today])],
        x_title=f"Hour requested ({timezone.get_current_timezone_name()})",
        y_title="Calls",
        links=[[call_log_url(day)] * 24 for day in (yesterday, today)],
    )
    outcomes_svg = charts.bar_chart(
        title="Today's outcomes",
        labels=[label for _value, label, _count in outcomes],
        series=[("Calls", [count for _value, _label, count in outcomes])],
        x_title="Outcome",
        y_title="Calls",
        # Calls still running have no outcome yet: their bar opens all of today's calls.
        links=[
            [
                call_log_url(today, outcome=value) if value else call_log_url(today)
                for value, _label, _count in outcomes
            ]
        ],
    )
    return OverviewCharts(today, per_hour, outcomes, hours_svg, outcomes_svg)
