"""Server-side SVG charts. Built with `_html`, which escapes every argument as format_html does
(numbers aside), so every label (an agent's name, a vendor reason) is escaped; nothing here marks
user text safe.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from analytics.figures import WEEKDAYS, number

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
