"""Analytics: aggregations computed in the database, and server-side SVG charts of them.

Every figure comes from one grouped query (`values().annotate()`); Python only shapes the few
grouped rows into charts and tables. The charts are SVG built with `format_html`, so every
label (an agent's name, a vendor reason) is escaped; nothing here marks user text safe.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db import connection, transaction
from django.db.models import Aggregate, Avg, Count, F, FloatField, Q, QuerySet
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDay, TruncWeek
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from calls.models import Call, CallOutcome, CallReview
from calls.state import CONNECTED_OUTCOMES

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
# Entity groupings: (the call's foreign key, the name shown, the label of "none").
_ENTITY = {
    "account": ("vendor_account", "vendor_account__name", "No account"),
    "agent": ("agent", "agent__name", "No agent"),
    "campaign": ("campaign", "campaign__name", "No campaign"),
}
# A chart with more groups than this shows the biggest ones; the table and CSV have them all.
MAX_CHART_GROUPS = 20
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Median(Aggregate):
    """PostgreSQL's `percentile_cont(0.5) WITHIN GROUP (ORDER BY x)`; NULLs are ignored."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def median_supported() -> bool:
    return connection.vendor == "postgresql"


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


def calls_in_range(params: AnalyticsParams) -> QuerySet[Call]:
    return Call.objects.filter(created_at__gte=params.start_at, created_at__lt=params.end_before)


def _group_values(rows: QuerySet, grouping: str, prefix: str = "") -> QuerySet:
    """`rows.values(group=..., group_label=...)`; prefix "call__" groups reviews by their call."""
    tz = timezone.get_current_timezone()
    if grouping == "day":
        return rows.values(group=TruncDay(f"{prefix}created_at", tzinfo=tz))
    if grouping == "week":
        return rows.values(group=TruncWeek(f"{prefix}created_at", tzinfo=tz))
    fk, name, _none = _ENTITY[grouping]
    return rows.values(group=F(f"{prefix}{fk}_id"), group_label=F(f"{prefix}{name}"))


def _as_day(value: Any) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


@dataclass(frozen=True)
class Group:
    key: Any
    label: str


def _groups_of(params: AnalyticsParams, rows: Sequence[dict[str, Any]]) -> list[Group]:
    """Every day/week of the range (empty ones too); the groups present for the others."""
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
    seen: dict[Any, Group] = {}
    for row in rows:
        seen.setdefault(row["group"], Group(row["group"], row.get("group_label") or none_label))
    return list(seen.values())


def _key(params: AnalyticsParams, value: Any) -> Any:
    return _as_day(value) if params.is_time else value


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


def summary_rows(params: AnalyticsParams) -> list[SummaryRow]:
    """Calls placed, connected, average and median duration per group: one query."""
    aggregates: dict[str, Any] = {
        "calls": Count("id"),
        "connected": Count("id", filter=Q(outcome__in=CONNECTED_OUTCOMES)),
        "avg_duration": Avg("duration_seconds"),
    }
    if median_supported():
        aggregates["median_duration"] = Median("duration_seconds")
    rows = list(
        _group_values(calls_in_range(params), params.grouping).annotate(**aggregates).order_by()
    )
    rows.sort(key=lambda row: -row["calls"])
    by_key = {_key(params, row["group"]): row for row in rows}
    result = []
    for group in _groups_of(params, rows):
        row = by_key.get(group.key, {})
        result.append(
            SummaryRow(
                group=group,
                calls=row.get("calls", 0),
                connected=row.get("connected", 0),
                avg_duration=row.get("avg_duration"),
                median_duration=row.get("median_duration"),
            )
        )
    return result


def outcome_rows(params: AnalyticsParams) -> tuple[list[Group], dict[str, dict[Any, int]]]:
    """Calls per group and outcome ("" while not ended): one query."""
    rows = list(
        _group_values(calls_in_range(params), params.grouping)
        .annotate(outcome_value=F("outcome"))
        .annotate(count=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[Any, int]] = {}
    for row in rows:
        per_group = counts.setdefault(row["outcome_value"], {})
        key = _key(params, row["group"])
        per_group[key] = per_group.get(key, 0) + row["count"]
    totals: dict[Any, int] = {}
    for per_group in counts.values():
        for key, count in per_group.items():
            totals[key] = totals.get(key, 0) + count
    groups = _groups_of(params, sorted(rows, key=lambda row: -totals[_key(params, row["group"])]))
    return groups, counts


def reason_rows(params: AnalyticsParams, *, limit: int = 15) -> list[tuple[str, int]]:
    """The vendors' disconnection reasons, verbatim, most frequent first: one query."""
    rows = (
        calls_in_range(params)
        .exclude(vendor_outcome="")
        .values("vendor_outcome")
        .annotate(count=Count("id"))
        .order_by("-count", "vendor_outcome")[:limit]
    )
    return [(row["vendor_outcome"], row["count"]) for row in rows]


def heat_map_grid(params: AnalyticsParams) -> list[list[int]]:
    """Calls per weekday (Monday first) and hour in the site's time zone: one query."""
    tz = timezone.get_current_timezone()
    rows = (
        calls_in_range(params)
        .values(
            weekday=ExtractIsoWeekDay("created_at", tzinfo=tz),
            hour=ExtractHour("created_at", tzinfo=tz),
        )
        .annotate(count=Count("id"))
        .order_by()
    )
    grid = [[0] * 24 for _ in WEEKDAYS]
    for row in rows:
        grid[row["weekday"] - 1][row["hour"]] += row["count"]
    return grid


@dataclass(frozen=True)
class ReviewRow:
    group: Group
    reviews: int
    rated: int
    avg_rating: float | None


def review_rows(params: AnalyticsParams) -> list[ReviewRow]:
    """Reviews of the range's calls per group: how many, how many rated, the average rating."""
    reviews = CallReview.objects.filter(
        call__created_at__gte=params.start_at, call__created_at__lt=params.end_before
    )
    rows = list(
        _group_values(reviews, params.grouping, prefix="call__")
        .annotate(
            reviews=Count("id", filter=Q(is_reviewed=True)),
            rated=Count("rating"),
            avg_rating=Avg("rating"),
        )
        .order_by()
    )
    rows.sort(key=lambda row: -row["reviews"])
    by_key = {_key(params, row["group"]): row for row in rows}
    return [
        ReviewRow(
            group=group,
            reviews=by_key.get(group.key, {}).get("reviews", 0),
            rated=by_key.get(group.key, {}).get("rated", 0),
            avg_rating=by_key.get(group.key, {}).get("avg_rating"),
        )
        for group in _groups_of(params, rows)
    ]


@dataclass(frozen=True)
class FunnelRow:
    campaign_id: int
    name: str
    contacts: int
    dialled: int
    connected: int
    completed: int


def funnel_rows(params: AnalyticsParams) -> list[FunnelRow]:
    """Per campaign, from its calls in the range: contacts called → dialled → connected → done."""
    rows = (
        calls_in_range(params)
        .filter(campaign__isnull=False)
        .values("campaign_id", "campaign__name")
        .annotate(
            contacts=Count("contact", distinct=True),
            dialled=Count("id", filter=~Q(state="failed")),
            connected=Count("id", filter=Q(outcome__in=CONNECTED_OUTCOMES)),
            completed=Count("id", filter=Q(outcome=CallOutcome.COMPLETED)),
        )
        .order_by("-dialled", "campaign_id")
    )
    return [
        FunnelRow(
            campaign_id=row["campaign_id"],
            name=row["campaign__name"],
            contacts=row["contacts"],
            dialled=row["dialled"],
            connected=row["connected"],
            completed=row["completed"],
        )
        for row in rows
    ]


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
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 28, 78
MAX_LABEL = 18


_FORMATTER = string.Formatter()


def _html(template: str, *args: Any) -> SafeString:
    """format_html with format specs ({:.1f}): numbers are formatted before escaping."""
    fields = list(_FORMATTER.parse(template))
    specs = [spec for _text, name, spec, _conv in fields if name is not None]
    values = [format(arg, spec) if spec else arg for arg, spec in zip(args, specs, strict=True)]
    plain = "".join(text + ("{}" if name is not None else "") for text, name, _s, _c in fields)
    return format_html(plain, *values)


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
) -> SafeString:
    """Vertical bars, one colour per series side by side, each bar's value printed on it."""
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
        for number_, (_name, points) in enumerate(series):
            value = points[index]
            if value is None:
                continue
            h = plot_h * value / top
            x = left + bar_w * number_
            y = HEIGHT - BOTTOM - h
            parts.append(
                _html(
                    '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                    "<title>{}: {}{}</title></rect>"
                    '<text class="value" x="{:.1f}" y="{:.1f}" text-anchor="middle" '
                    'font-size="10">{}{}</text>',
                    x,
                    y,
                    bar_w,
                    h,
                    PALETTE[number_ % len(PALETTE)],
                    label,
                    number(value, digits),
                    suffix,
                    x + bar_w / 2,
                    y - 3,
                    number(value, digits),
                    suffix,
                )
            )
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


def chart_calls(params: AnalyticsParams, summary: list[SummaryRow]) -> Chart:
    shown = _visible(params, summary)
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
        for row in summary
    ]
    columns = [
        params.grouping_label,
        "Calls placed",
        "Connected",
        "Connected rate %",
        "Average duration s",
        "Median duration s",
    ]
    return Chart("calls", "Calls placed", svg, columns, rows)


def chart_connected(params: AnalyticsParams, summary: list[SummaryRow]) -> Chart:
    shown = _visible(params, summary)
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
        [row.group.label, row.calls, row.connected, _rounded(row.connected_rate)] for row in summary
    ]
    columns = [params.grouping_label, "Calls placed", "Connected", "Connected rate %"]
    note = "Connected: the outcome is " + ", ".join(
        sorted(CallOutcome(value).label.lower() for value in CONNECTED_OUTCOMES)
    )
    return Chart("connected", "Connected rate", svg, columns, rows, note=note)


def chart_duration(params: AnalyticsParams, summary: list[SummaryRow]) -> Chart:
    shown = _visible(params, summary)
    series: list[tuple[str, Sequence[float | None]]] = [
        ("Average", [row.avg_duration for row in shown])
    ]
    note = ""
    if median_supported():
        series.append(("Median", [row.median_duration for row in shown]))
    else:
        note = "The median needs PostgreSQL (percentile_cont); this database shows averages only."
    svg = bar_chart(
        title="Call duration",
        labels=[row.group.label for row in shown],
        series=series,
        x_title=params.grouping_label,
        y_title="Seconds",
    )
    rows = [
        [row.group.label, _rounded(row.avg_duration), _rounded(row.median_duration)]
        for row in summary
    ]
    columns = [params.grouping_label, "Average duration s", "Median duration s"]
    return Chart("duration", "Average and median duration", svg, columns, rows, note=note)


def _outcome_label(value: str) -> str:
    return CallOutcome(value).label if value in CallOutcome.values else (value or "No outcome yet")


def chart_outcomes(params: AnalyticsParams) -> Chart:
    groups, counts = outcome_rows(params)
    order = [value for value in CallOutcome.values if value in counts]
    order += sorted(value for value in counts if value not in order)
    shown = _visible(params, groups)
    stacks = [
        (_outcome_label(value), [counts[value].get(group.key, 0) for group in shown])
        for value in order
    ]
    svg = stacked_bar_chart(
        title="Outcomes",
        labels=[group.label for group in shown],
        stacks=stacks,
        x_title=params.grouping_label,
        y_title="Calls",
    )
    columns = [params.grouping_label, *(_outcome_label(value) for value in order)]
    rows = [
        [group.label, *(counts[value].get(group.key, 0) for value in order)] for group in groups
    ]
    return Chart("outcomes", "Outcomes", svg, columns, rows)


def chart_reasons(params: AnalyticsParams) -> Chart:
    reasons = reason_rows(params)
    svg = bar_chart(
        title="Disconnection reasons",
        labels=[reason for reason, _count in reasons],
        series=[("Calls", [count for _reason, count in reasons])],
        x_title="Vendor disconnection reason (verbatim)",
        y_title="Calls",
    )
    rows = [[reason, count] for reason, count in reasons]
    return Chart("reasons", "Disconnection reasons", svg, ["Vendor reason", "Calls"], rows)


def chart_heat_map(params: AnalyticsParams) -> Chart:
    grid = heat_map_grid(params)
    svg = heat_map(title="Calls per hour", grid=grid)
    rows = [[WEEKDAYS[index], *row] for index, row in enumerate(grid)]
    columns = ["Weekday", *(f"{hour:02d}" for hour in range(24))]
    note = f"Hours in {timezone.get_current_timezone_name()}, by the time the call was requested."
    return Chart("heatmap", "Calls per hour", svg, columns, rows, note=note)


def chart_reviews(params: AnalyticsParams) -> Chart:
    reviews = review_rows(params)
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


FUNNEL_NOTE = (
    "Counted from each campaign's calls in the range: contacts = distinct contacts called, "
    "dialled = calls the vendor accepted (not failed), connected = a conversation happened, "
    "completed = outcome completed. Contacts not yet dialled are on the campaign's own page."
)


def chart_funnel(params: AnalyticsParams) -> Chart:
    funnel = funnel_rows(params)
    stages = ("Contacts", "Dialled", "Connected", "Completed")
    totals = [
        sum(row.contacts for row in funnel),
        sum(row.dialled for row in funnel),
        sum(row.connected for row in funnel),
        sum(row.completed for row in funnel),
    ]
    svg = bar_chart(
        title="Campaign funnel",
        labels=stages,
        series=[("Calls", totals)],
        x_title="Stage (all campaigns)",
        y_title="Count",
    )
    rows = [[row.name, row.contacts, row.dialled, row.connected, row.completed] for row in funnel]
    return Chart("funnel", "Campaign funnel", svg, ["Campaign", *stages], rows, note=FUNNEL_NOTE)


CHART_KEYS = (
    "calls",
    "connected",
    "duration",
    "outcomes",
    "reasons",
    "heatmap",
    "reviews",
    "funnel",
)


# Grouping 100,000s of index rows by computed keys (day, hour) sorts or hashes them; with
# PostgreSQL's default 4 MB that spills to disk. Raised for the analytics queries only.
ANALYTICS_WORK_MEM = "64MB"


def build_charts(params: AnalyticsParams, only: str | None = None) -> list[Chart]:
    """The page's charts in order (or only one of them, for its CSV)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('work_mem', %s, true)", [ANALYTICS_WORK_MEM])
        return _build_charts(params, only)


def _build_charts(params: AnalyticsParams, only: str | None) -> list[Chart]:
    wanted = CHART_KEYS if only is None else (only,)
    summary = summary_rows(params) if {"calls", "connected", "duration"} & set(wanted) else []
    builders: dict[str, Callable[[], Chart]] = {
        "calls": lambda: chart_calls(params, summary),
        "connected": lambda: chart_connected(params, summary),
        "duration": lambda: chart_duration(params, summary),
        "outcomes": lambda: chart_outcomes(params),
        "reasons": lambda: chart_reasons(params),
        "heatmap": lambda: chart_heat_map(params),
        "reviews": lambda: chart_reviews(params),
        "funnel": lambda: chart_funnel(params),
    }
    return [builders[key]() for key in wanted]
