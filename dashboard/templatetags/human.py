"""Template filters that show values as people read them (a builtin: no {% load %} needed)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def duration(seconds: Any) -> str:
    """45 → "45 s", 1712 → "28 min 32 s", 3720 → "1 h 2 min"; nothing → "—"."""
    if seconds is None or seconds == "" or isinstance(seconds, bool):
        return "—"
    try:
        total = round(float(seconds))
    except (TypeError, ValueError):
        return "—"
    if total < 0:
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@register.filter
def code_label(code: Any) -> str:
    """A vendor's code as words: "CALL_NOT_PICKED" → "Call not picked", "follow_up" → "Follow
    up". Pages show it with the code itself in a tooltip, so nothing the vendor said is lost."""
    text = " ".join(str(code or "").replace("_", " ").replace("-", " ").split())
    return text[:1].upper() + text[1:].lower() if text else "—"


@register.filter
def outcome_label(value: Any) -> str:
    """A common outcome's label: "no_answer" → "No answer"; none → "—"."""
    from calls.outcomes import outcome_label as label

    return label(str(value)) if value else "—"
