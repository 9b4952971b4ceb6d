"""Template filters that show values as people read them (a builtin: no {% load %} needed)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from vendors.text import code_label as vendor_code_label
from vendors.text import human_duration

register = template.Library()


@register.filter
def duration(seconds: Any) -> str:
    """45 → "45 s", 1712 → "28 min 32 s", 3720 → "1 h 2 min"; nothing → "—"."""
    return human_duration(seconds)


@register.filter
def code_label(code: Any) -> str:
    """A vendor's code as words, "CALL_NOT_PICKED" → "Call not picked"; nothing → "—"."""
    return vendor_code_label(code)


@register.filter
def outcome_label(value: Any) -> str:
    """A common outcome's label: "no_answer" → "No answer"; none → "—"."""
    from calls.outcomes import outcome_label as label

    return label(str(value)) if value else "—"


@register.simple_tag
def select_options(choices: Iterable[tuple[Any, Any]], current: Any) -> SafeString:
    """A select's `<option>`s from (value, label) choices, `current` selected. One tag instead
    of a template loop with an `if` and two variables per option: the call log's filters print
    a few hundred options on every full page."""
    chosen = None if current is None else str(current)
    options = []
    for value, label in choices:
        value = str(value)
        selected = " selected" if value == chosen else ""
        options.append(f'<option value="{escape(value)}"{selected}>{escape(str(label))}</option>')
    return mark_safe("".join(options))  # noqa: S308 (every value and label escaped above)
