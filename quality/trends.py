"""Quality analytics: the score trend per agent, vendor account or campaign, week by week, the
items calls fail most, and the conversation metrics as the same kind of series. Every
reviewer's score counts (a calibrated call counts once per reviewer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Avg, Count, F, Q
from django.db.models.functions import TruncWeek

from calls.models import CallConversation
from quality.models import CallScore, ItemKind, ItemScore


class GroupBy:
    AGENT = "agent"
    ACCOUNT = "account"
    CAMPAIGN = "campaign"
    CHOICES = ((AGENT, "Agent"), (ACCOUNT, "Vendor account"), (CAMPAIGN, "Campaign"))


_GROUP_FIELDS = {
    GroupBy.AGENT: ("call__agent_id", "call__agent__name"),
    GroupBy.ACCOUNT: ("call__vendor_account_id", "call__vendor_account__name"),
    GroupBy.CAMPAIGN: ("call__campaign_id", "call__campaign__name"),
}


@dataclass(frozen=True)
class TrendRow:
    week: date
    group: str
    scores: int
    average: float | None
    failed: int


def _week(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _in_range(queryset: Any, since: date | None, until: date | None) -> Any:
    if since:
        queryset = queryset.filter(call__created_at__date__gte=since)
    if until:
        queryset = queryset.filter(call__created_at__date__lte=until)
    return queryset


def score_trend(
    *, group_by: str = GroupBy.AGENT, since: date | None = None, until: date | None = None
) -> list[TrendRow]:
    """Average score and failed calls per week (of the call) and per group, oldest week first."""
    key, name = _GROUP_FIELDS.get(group_by, _GROUP_FIELDS[GroupBy.AGENT])
    rows = (
        _in_range(CallScore.objects.all(), since, until)
        .annotate(week=TruncWeek("call__created_at"), group_id=F(key), group_name=F(name))
        .values("week", "group_id", "group_name")
        .annotate(
            scores=Count("id"),
            average=Avg("score"),
            failed=Count("id", filter=Q(failed_critical=True)),
        )
        .order_by("week", "group_name", "group_id")
    )
    return [
        TrendRow(
            week=_week(row["week"]),
            group=row["group_name"] or "None",
            scores=row["scores"],
            average=round(row["average"], 1) if row["average"] is not None else None,
            failed=row["failed"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class WorstItem:
    scorecard: str
    label: str
    answers: int
    failed: int
    failed_share: float  # 0–100


def worst_items(
    *, since: date | None = None, until: date | None = None, limit: int = 10
) -> list[WorstItem]:
    """Items by how often they were failed: a pass/fail item answered Fail, a 1–5 item answered
    1 or 2. N/A answers are not counted. Items are matched by scorecard and label across
    versions."""
    answers = ItemScore.objects.filter(value__isnull=False)
    if since:
        answers = answers.filter(call_score__call__created_at__date__gte=since)
    if until:
        answers = answers.filter(call_score__call__created_at__date__lte=until)
    failed = Q(item__kind=ItemKind.PASS_FAIL, value=0) | Q(item__kind=ItemKind.SCALE, value__lte=2)
    rows = (
        answers.values("item__version__scorecard__name", "item__label")
        .annotate(answers=Count("id"), failed=Count("id", filter=failed))
        .filter(failed__gt=0)
    )
    found = [
        WorstItem(
            scorecard=row["item__version__scorecard__name"],
            label=row["item__label"],
            answers=row["answers"],
            failed=row["failed"],
            failed_share=round(100 * row["failed"] / row["answers"], 1),
        )
        for row in rows
    ]
    found.sort(key=lambda item: (-item.failed_share, -item.failed, item.label))
    return found[:limit]


@dataclass(frozen=True)
class ConversationRow:
    week: date
    group: str
    calls: int  # measured calls with timings
    talk_share: float | None  # agent's share of the talk, %
    response_gap_p50: float | None  # seconds, the average of the calls' medians
    response_gap_p90: float | None
    long_silences: float | None  # per call
    agent_interruptions: float | None  # per call
    agent_words_per_minute: float | None


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return round(value, digits) if value is not None else None


def conversation_trend(
    *, group_by: str = GroupBy.AGENT, since: date | None = None, until: date | None = None
) -> list[ConversationRow]:
    """The conversation metrics as a series: per week (of the call) and group, the average over
    measured calls with per-line timestamps (calls without timings have none of these)."""
    key, name = _GROUP_FIELDS.get(group_by, _GROUP_FIELDS[GroupBy.AGENT])
    rows = (
        _in_range(CallConversation.objects.filter(timed=True), since, until)
        .annotate(week=TruncWeek("call__created_at"), group_id=F(key), group_name=F(name))
        .values("week", "group_id", "group_name")
        .annotate(
            calls=Count("call_id"),
            talk_share=Avg("agent_talk_share"),
            gap_p50=Avg("response_gap_p50_seconds"),
            gap_p90=Avg("response_gap_p90_seconds"),
            silences=Avg("long_silences"),
            interruptions=Avg("agent_interruptions"),
            words_per_minute=Avg("agent_words_per_minute"),
        )
        .order_by("week", "group_name", "group_id")
    )
    return [
        ConversationRow(
            week=_week(row["week"]),
            group=row["group_name"] or "None",
            calls=row["calls"],
            talk_share=_rounded(row["talk_share"] * 100) if row["talk_share"] is not None else None,
            response_gap_p50=_rounded(row["gap_p50"]),
            response_gap_p90=_rounded(row["gap_p90"]),
            long_silences=_rounded(row["silences"], 2),
            agent_interruptions=_rounded(row["interruptions"], 2),
            agent_words_per_minute=_rounded(row["words_per_minute"], 0),
        )
        for row in rows
    ]
