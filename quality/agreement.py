"""How far the automatic values and the reviewers agree (per item: percent agreement and Cohen's
kappa), and how far reviewers agree with each other on the same call (calibration)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from calls.models import Call
from quality.models import CallScore, ItemKind, ItemScore, ItemSource, Scorecard, ScorecardItem


def percent_agreement(pairs: Sequence[tuple[int, int]]) -> float | None:
    if not pairs:
        return None
    return 100 * sum(1 for auto, human in pairs if auto == human) / len(pairs)


def cohen_kappa(pairs: Sequence[tuple[int, int]]) -> float | None:
    """Cohen's kappa of two raters over the same items: (po - pe) / (1 - pe).

    None when it is undefined: no pairs, or chance agreement is already 1 (both raters gave one
    and the same value every time, so there is nothing beyond chance to measure)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for auto, human in pairs if auto == human) / n
    auto_counts = Counter(auto for auto, _ in pairs)
    human_counts = Counter(human for _, human in pairs)
    expected = sum(auto_counts[k] * human_counts[k] for k in auto_counts) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class ItemAgreement:
    label: str
    source: str
    pairs: int
    percent: float | None
    kappa: float | None


def agreement_by_item(*, scorecard: Scorecard) -> list[ItemAgreement]:
    """Per item of a scorecard (by label, across its versions), the reviewers' answers against
    the automatic value offered; N/A answers and items with no automatic value are left out."""
    rows = (
        ItemScore.objects.filter(
            item__version__scorecard=scorecard, auto_value__isnull=False, value__isnull=False
        )
        .values_list("item__label", "item__source", "auto_value", "value")
        .order_by("item__version__number", "item__position")
    )
    pairs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    sources: dict[str, str] = {}
    for label, source, auto, human in rows.iterator():
        pairs[label].append((auto, human))
        sources[label] = source
    return [
        ItemAgreement(
            label=label,
            source=ItemSource(sources[label]).label,
            pairs=len(found),
            percent=percent_agreement(found),
            kappa=cohen_kappa(found),
        )
        for label, found in pairs.items()
    ]


# --- Calibration ---------------------------------------------------------------------------------


def calibration_calls(*, min_reviewers: int = 2) -> Any:
    """Ended calls scored by at least `min_reviewers` reviewers, newest score first."""
    return (
        Call.objects.annotate(reviewers=Count("scores", distinct=True))
        .filter(reviewers__gte=min_reviewers)
        .select_related("agent", "campaign", "vendor_account")
        .order_by("-id")
    )


@dataclass(frozen=True)
class CalibrationRow:
    label: str
    kind: str
    values: list[int | None]  # one per reviewer, in the column order; None: N/A or not on theirs
    spread: float | None  # max - min on the item's own scale, over answered values


@dataclass(frozen=True)
class Calibration:
    call: Call
    scores: list[CallScore]
    rows: list[CalibrationRow]
    score_spread: float | None


def _spread(values: Iterable[float | None]) -> float | None:
    answered = [value for value in values if value is not None]
    return max(answered) - min(answered) if len(answered) >= 2 else None


def calibration_for(*, call: Call) -> Calibration:
    """Every reviewer's answer per item of one call, side by side, with the spread of each."""
    scores = list(
        CallScore.objects.filter(call=call)
        .select_related("reviewer", "version__scorecard")
        .prefetch_related("answers__item")
        .order_by("reviewer__username", "id")
    )
    labels: dict[str, str] = {}
    answers: dict[tuple[str, int], int | None] = {}
    for score in scores:
        for answer in score.answers.all():
            labels.setdefault(answer.item.label, answer.item.kind)
            answers[(answer.item.label, score.pk)] = answer.value
    rows = []
    for label, kind in labels.items():
        values = [answers.get((label, score.pk)) for score in scores]
        rows.append(CalibrationRow(label, kind, values, _spread(values)))
    return Calibration(
        call=call,
        scores=scores,
        rows=rows,
        score_spread=_spread(score.score for score in scores),
    )


def answer_label(kind: str, value: int | None) -> str:
    if value is None:
        return "N/A"
    if kind == ItemKind.PASS_FAIL:
        return "Pass" if value == 1 else "Fail"
    return str(value)


def scorecards_with_automatic_items() -> list[Scorecard]:
    """Scorecards with at least one item pre-filled from a source (in any version)."""
    sourced = ScorecardItem.objects.exclude(source="").values("version__scorecard_id")
    return list(Scorecard.objects.filter(pk__in=sourced).order_by("name", "id"))
