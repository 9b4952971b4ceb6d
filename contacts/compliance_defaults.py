"""The calling-hours rules and frequency caps callops ships with.

These are a starting point drawn from public summaries of the rules (the TCPA's 8:00-21:00,
states with shorter hours or no Sunday calls), NOT legal advice: the settings page and the
README say that the organisation's counsel must check them before use. Where a state's rule
cannot be written as one window a day (Texas allows Sunday calls from noon only), the shipped
rule is the stricter reading (no Sunday calls at all).
"""

from __future__ import annotations

from typing import Any

SUNDAY = 6

DEFAULT_MAX_ATTEMPTS_PER_DAY = 3
DEFAULT_MAX_ATTEMPTS_PER_WEEK = 7
DEFAULT_MIN_GAP_MINUTES = 0


def _rule(
    place: str,
    label: str,
    start: int,
    end: int,
    *,
    weekdays: tuple[int, ...] = (),
    holidays: bool = False,
) -> dict[str, Any]:
    return {
        "place": place,
        "label": label,
        "start_minute": start * 60,
        "end_minute": end * 60,
        "excluded_weekdays": list(weekdays),
        "skip_public_holidays": holidays,
    }


DEFAULT_RULES: list[dict[str, Any]] = [
    _rule("", "Everywhere else", 8, 21),
    _rule("US", "United States", 8, 21),
    _rule("US-AL", "Alabama", 8, 20, weekdays=(SUNDAY,), holidays=True),
    _rule("US-CT", "Connecticut", 9, 20),
    _rule("US-FL", "Florida", 8, 20),
    _rule("US-LA", "Louisiana", 8, 20, weekdays=(SUNDAY,), holidays=True),
    _rule("US-MD", "Maryland", 8, 20),
    _rule("US-MS", "Mississippi", 8, 20, weekdays=(SUNDAY,)),
    _rule("US-OK", "Oklahoma", 8, 20),
    _rule("US-TX", "Texas", 9, 21, weekdays=(SUNDAY,)),
    _rule("US-WA", "Washington", 8, 20),
]
