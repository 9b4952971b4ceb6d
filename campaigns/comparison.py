"""Reads for the arm comparison page: each arm's figures, their intervals and tests against
the first arm, and the audit of the split (seed, weights, contacts per stratum and arm).

Rates are shares of the arm's finished calls (ended or failed; calls still live have no outcome
yet): each call is one trial, retries included.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models.fields.json import KT

from calls.models import (
    Call,
    CallState,
    CommonOutcome,
    PostCallAction,
    PostCallStep,
    StepStatus,
)
from campaigns.models import Campaign, CampaignArm, DialEntry
from campaigns.stats import ProportionTest, two_proportion_test, wilson_interval

# A person answered: every outcome of a conversation, short or long.
CONNECTED = frozenset(
    {
        CommonOutcome.COMPLETED,
        CommonOutcome.CALLBACK_REQUESTED,
        CommonOutcome.TRANSFERRED,
        CommonOutcome.DROPPED,
        CommonOutcome.DECLINED,
        CommonOutcome.OPTED_OUT,
    }
)
FINISHED = (CallState.ENDED, CallState.FAILED)
LEVELS = (0.01, 0.05, 0.10)
DEFAULT_LEVEL = 0.05
# The rates compared, and whether a higher one is better (what "leading" means for it).
RATES = (("connect", True), ("completion", True), ("voicemail", False))


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float
    # Against the first arm (None for the first arm itself, or when no test can be made).
    test: ProportionTest | None = None
    leading: bool = False  # this arm is significantly better than the first at the level

    @property
    def share(self) -> float | None:
        return self.successes / self.trials if self.trials else None

    # Percentages for the page.
    @property
    def percent(self) -> float | None:
        return None if self.share is None else self.share * 100

    @property
    def low_percent(self) -> float:
        return self.low * 100

    @property
    def high_percent(self) -> float:
        return self.high * 100


@dataclass
class ArmFigures:
    name: str
    arm: CampaignArm | None  # None: a campaign without arms (its one implicit arm)
    contacts: int = 0
    dialled: int = 0
    finished: int = 0
    rates: dict[str, Rate] = field(default_factory=dict)
    average_seconds: float | None = None
    median_seconds: float | None = None
    cost: Decimal | None = None
    cost_per_completed: Decimal | None = None
    analysed: int = 0
    average_effort_score: float | None = None  # CallCov's customer effort score, 0-5
    follow_ups_sent: int = 0


@dataclass
class Comparison:
    arms: list[ArmFigures]
    level: float
    currency: str
    seed: int | None
    draws: int
    # (time zone, source, contacts in each arm, in the arms' order)
    strata: list[tuple[str, str, list[int]]]


def _effort_score(result: Any) -> float | None:
    results = result.get("results") if isinstance(result, dict) else None
    coaching = results.get("coaching") if isinstance(results, dict) else None
    score = coaching.get("customer_effort_score") if isinstance(coaching, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    return float(score)


def arm_comparison(campaign: Campaign, *, level: float = DEFAULT_LEVEL) -> Comparison:
    arms = list(campaign.arms.select_related("vendor_account", "agent"))
    if arms:
        figures = [ArmFigures(name=arm.name, arm=arm) for arm in arms]
        by_key = {str(arm.pk): item for arm, item in zip(arms, figures, strict=True)}
    else:
        figures = [ArmFigures(name="All calls", arm=None)]
        by_key = {}
    first = figures[0]

    def figures_for(key: Any) -> ArmFigures | None:
        # The key's text: PostgreSQL gives the JSON number as text, SQLite as a number.
        return by_key.get(str(key)) if arms else first

    rows = Call.objects.filter(campaign=campaign).values_list(
        "pk", KT("metadata__campaign_arm_id"), "state", "common_outcome", "duration_seconds"
    )
    call_arm: dict[int, ArmFigures] = {}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    seconds: dict[str, list[int]] = defaultdict(list)
    for pk, key, state, outcome, duration in rows:
        item = figures_for(key)
        if item is None:
            continue
        call_arm[pk] = item
        item.dialled += 1
        if state not in FINISHED:
            continue
        item.finished += 1
        counts[item.name]["connect"] += outcome in CONNECTED
        counts[item.name]["completion"] += outcome == CommonOutcome.COMPLETED
        counts[item.name]["voicemail"] += outcome == CommonOutcome.VOICEMAIL
        if duration:
            seconds[item.name].append(duration)

    scores: dict[str, list[float]] = defaultdict(list)
    steps = PostCallStep.objects.filter(
        call__campaign=campaign,
        action__in=(PostCallAction.ANALYSE, PostCallAction.FOLLOW_UP),
        status=StepStatus.DONE,
    ).values_list("call_id", "action", "result")
    for call_id, action, result in steps:
        item = call_arm.get(call_id)
        if item is None:
            continue
        if action == PostCallAction.FOLLOW_UP:
            item.follow_ups_sent += 1
            continue
        item.analysed += 1
        score = _effort_score(result)
        if score is not None:
            scores[item.name].append(score)

    entry_arms = Counter(
        DialEntry.objects.filter(campaign=campaign).values_list("arm_id", flat=True)
    )
    first_leads: set[str] = set()
    for item in figures:
        item.contacts = entry_arms[item.arm.pk] if item.arm else sum(entry_arms.values())
        durations = seconds[item.name]
        if durations:
            item.average_seconds = sum(durations) / len(durations)
            item.median_seconds = float(statistics.median(durations))
        price = (item.arm.vendor_account if item.arm else campaign.vendor_account).price_per_minute
        if price is not None:
            item.cost = (Decimal(sum(durations)) / 60 * price).quantize(Decimal("0.01"))
            completed = counts[item.name]["completion"]
            if completed:
                item.cost_per_completed = (item.cost / completed).quantize(Decimal("0.01"))
        if scores[item.name]:
            item.average_effort_score = sum(scores[item.name]) / len(scores[item.name])
        for rate, higher_is_better in RATES:
            successes = counts[item.name][rate]
            low, high = wilson_interval(successes, item.finished)
            test = None
            leading = False
            if item is not first:
                base = counts[first.name][rate]
                test = two_proportion_test(base, first.finished, successes, item.finished)
                if test is not None and test.p_value < level:
                    better = test.z > 0 if higher_is_better else test.z < 0
                    if better:
                        leading = True
                    else:
                        first_leads.add(rate)
            item.rates[rate] = Rate(successes, item.finished, low, high, test, leading)

    for rate in first_leads:  # the first arm is significantly better than another
        first.rates[rate] = replace(first.rates[rate], leading=True)

    strata: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    names = {arm.pk: arm.name for arm in arms}
    split = (
        DialEntry.objects.filter(campaign=campaign, arm__isnull=False)
        .values_list("time_zone", "source", "arm_id")
        .order_by()
    )
    for zone, source, arm_id in split:
        strata[(zone, source)][names[arm_id]] += 1
    return Comparison(
        arms=figures,
        level=level,
        currency=settings.CALLOPS_CURRENCY,
        seed=campaign.arm_seed,
        draws=campaign.arm_draws,
        strata=[
            (zone, source, [by_arm[arm.name] for arm in arms])
            for (zone, source), by_arm in sorted(strata.items())
        ],
    )


CSV_HEADER = [
    "arm",
    "vendor account",
    "agent",
    "weight",
    "stopped",
    "contacts",
    "dialled",
    "finished",
    *(
        f"{rate} {part}"
        for rate, _higher in RATES
        for part in ("rate", "95% low", "95% high", "p vs first arm", "leading")
    ),
    "average duration (s)",
    "median duration (s)",
    "cost",
    "cost per completed call",
    "analysed",
    "average customer effort score",
    "follow-ups sent",
]


def comparison_rows(comparison: Comparison) -> list[list[Any]]:
    """The comparison as CSV rows, header first (shares as decimals, empty when unknown)."""

    def number(value: Any, digits: int = 4) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    rows: list[list[Any]] = [CSV_HEADER]
    for item in comparison.arms:
        arm = item.arm
        row: list[Any] = [
            item.name,
            str(arm.vendor_account) if arm else "",
            str(arm.agent) if arm else "",
            arm.weight if arm else "",
            "yes" if arm and arm.is_stopped else "no",
            item.contacts,
            item.dialled,
            item.finished,
        ]
        for rate, _higher in RATES:
            figure = item.rates[rate]
            row += [
                number(figure.share),
                number(figure.low),
                number(figure.high),
                number(figure.test.p_value if figure.test else None),
                "yes" if figure.leading else "no",
            ]
        row += [
            number(item.average_seconds, 1),
            number(item.median_seconds, 1),
            "" if item.cost is None else f"{item.cost} {comparison.currency}",
            "" if item.cost_per_completed is None else str(item.cost_per_completed),
            item.analysed,
            number(item.average_effort_score, 2),
            item.follow_ups_sent,
        ]
        rows.append(row)
    return rows
