"""The call log's pages: keyset pagination and the rows its table shows, ready to print.

A page is one query, whatever its depth. Its rows are plain values (`.values()`), turned into
`CallLogRow`s whose every cell is already a string, and each row's `<tr>` is made here, as
Django's admin makes its changelist rows in Python: the table's template only prints them.
Building 50 model instances, reversing 50 URLs, running the date, choice-label and duration
filters per cell, and the template engine's dozen lookups and escapes per row cost more than
finding the rows (bench/bench_call_log.py measures the page against its SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape as _e
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.safestring import SafeString, mark_safe

from calls.models import CallState, CommonOutcome
from calls.selectors import CallFilters, call_list
from vendors.text import code_label, human_duration

PAGE_SIZE = 50

# What the call log's table shows (templates/calls/call_log.html, partial "rows"): reading
# only these spares the database the large TOASTed values (transcript, payloads) and Python
# their JSON decoding and the unused related rows, 50 rows at a time. A cell the table starts
# showing must be added here and to CallLogRow.
_LOG_VALUES = (
    "pk",
    "created_at",
    "to_number",
    "state",
    "is_stale",
    "common_outcome",
    "vendor_outcome",
    "duration_seconds",
    "recording_url",
    "agent__name",
    "contact_id",
    "contact__name",
)
_STATE_LABELS = dict(CallState.choices)
_OUTCOME_LABELS = dict(CommonOutcome.choices)


@dataclass(frozen=True, slots=True)
class CallLogRow:
    pk: int
    created_at: datetime
    url: str
    created: str  # local time, "3 Dec 16:05:09"
    to_number: str
    contact: str
    agent: str
    state: str
    state_label: str
    is_stale: bool
    outcome: str
    vendor_outcome: str
    vendor_outcome_label: str
    duration: str
    has_recording: bool

    def html(self) -> SafeString:
        """The row of the call log's table (templates/calls/call_log.html, partial "rows").

        Every stored value is escaped with the standard library's `html.escape`, which is what
        Django's `escape` calls: a row is one f-string, not a dozen format_html arguments. The
        link, the time and the duration are made here from numbers and constants.
        """
        stale = ' <span class="badge badge-warn">stale</span>' if self.is_stale else ""
        vendor = (
            f' <span class="muted" title="The vendor\'s code: {_e(self.vendor_outcome)}">'
            f"({_e(self.vendor_outcome_label)})</span>"
            if self.vendor_outcome
            else ""
        )
        recording = (
            '<span class="badge" title="Has a recording">rec</span>' if self.has_recording else ""
        )
        return mark_safe(  # noqa: S308 (every value above is escaped)
            f'<tr><td><a href="{self.url}">{self.created}</a></td>'
            f"<td><code>{_e(self.to_number)}</code></td>"
            f"<td>{_e(self.contact)}</td><td>{_e(self.agent)}</td>"
            f'<td><span class="badge state-{_e(self.state)}">{_e(self.state_label)}</span>'
            f"{stale}</td><td>{_e(self.outcome)}{vendor}</td>"
            f'<td class="num">{self.duration}</td><td>{recording}</td></tr>\n'
        )


@dataclass(frozen=True)
class CallPage:
    calls: list[CallLogRow]
    # Where the next page starts ("" on the last page); opaque to the browser.
    next_cursor: str = ""
    cursor: str = ""

    @property
    def has_more(self) -> bool:
        return bool(self.next_cursor)

    def rows_html(self) -> SafeString:
        """The table body's rows, one string for the template to print."""
        return mark_safe("".join(row.html() for row in self.calls))  # noqa: S308 (each escaped)


class BadCursor(ValueError):
    pass


def encode_cursor(row: Any) -> str:
    """A page's position after `row` (anything with created_at and pk: a row or a call)."""
    return f"{row.created_at.isoformat()}~{row.pk}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    moment, _, pk = cursor.rpartition("~")
    when = parse_datetime(moment) if moment else None
    if when is None or not pk.isdigit() or timezone.is_naive(when):
        raise BadCursor(f"Not a call log position: {cursor!r}")
    return when, int(pk)


def call_page(
    *, filters: CallFilters | None = None, after: str = "", size: int | None = None
) -> CallPage:
    """One page of the call log after the cursor `after`: one query whatever the page.

    Keyset on (created_at, id), newest first, so a page never repeats or skips a call when
    new calls arrive or several share a creation time. Raises BadCursor for a mangled cursor.
    """
    size = size or PAGE_SIZE
    calls = call_list(filters=filters).select_related(None)
    if after:
        created_at, pk = decode_cursor(after)
        # `created_at <= X` is a range on the log index, so a page deep in the log starts
        # there; the OR alone made PostgreSQL walk (and drop) every newer call first.
        calls = calls.filter(created_at__lte=created_at).filter(
            Q(created_at__lt=created_at) | Q(pk__lt=pk)
        )
    values = list(calls.values(*_LOG_VALUES)[: size + 1])
    more = len(values) > size
    rows = log_rows(values[:size])
    return CallPage(calls=rows, next_cursor=encode_cursor(rows[-1]) if more else "", cursor=after)


def log_rows(values: list[dict[str, Any]]) -> list[CallLogRow]:
    """The table's cells from the page's values, in the current time zone."""
    # One reverse for the page: every call's URL differs only by its id.
    detail = reverse("calls:detail", args=[0]).removesuffix("0/")
    zone = timezone.get_current_timezone()
    rows = []
    for value in values:
        created_at = value["created_at"]
        vendor_outcome = value["vendor_outcome"]
        rows.append(
            CallLogRow(
                pk=value["pk"],
                created_at=created_at,
                url=f"{detail}{value['pk']}/",
                created=_short_moment(created_at.astimezone(zone)),
                to_number=value["to_number"],
                contact=(value["contact__name"] or "—") if value["contact_id"] else "—",
                agent=value["agent__name"] or "—",
                state=value["state"],
                state_label=_STATE_LABELS.get(value["state"], value["state"]),
                is_stale=value["is_stale"],
                outcome=_OUTCOME_LABELS.get(value["common_outcome"], "") or "—",
                vendor_outcome=vendor_outcome,
                vendor_outcome_label=code_label(vendor_outcome) if vendor_outcome else "",
                duration=human_duration(value["duration_seconds"]),
                has_recording=bool(value["recording_url"]),
            )
        )
    return rows


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _short_moment(moment: datetime) -> str:
    """'3 Dec 16:05:09': the date filter's "j M H:i:s" without its per-call overhead."""
    return (
        f"{moment.day} {_MONTHS[moment.month - 1]} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
