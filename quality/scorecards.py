"""Scorecards: defining them (new version on every edit), finding the one for a call, and
scoring a call against it. Selectors first, then services."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max

from calls.models import Call, CallState
from quality.models import (
    CallScore,
    ItemKind,
    ItemScore,
    ItemSource,
    Scorecard,
    ScorecardItem,
    ScorecardVersion,
    ThresholdDirection,
)
from quality.sources import (
    CALLCOV_COMPLIANCE_CHECKS,
    CALLCOV_QUALITY_DIMENSIONS,
    METRICS,
    auto_value,
    call_evidence,
)

MAX_ITEMS = 40
MAX_WEIGHT = 100

# --- Selectors -----------------------------------------------------------------------------------


def current_version(scorecard: Scorecard) -> ScorecardVersion | None:
    return scorecard.versions.order_by("-number").first()


def scorecard_for(*, call: Call) -> Scorecard | None:
    """The scorecard that applies to a call: its campaign's, else its vendor account's, else the
    default (neither); among several, the newest. Inactive scorecards apply to no call."""
    active = Scorecard.objects.filter(is_active=True, versions__isnull=False).distinct()
    if call.campaign_id:
        found = active.filter(campaign_id=call.campaign_id).order_by("-id").first()
        if found:
            return found
    if call.vendor_account_id:
        found = active.filter(vendor_account_id=call.vendor_account_id, campaign=None)
        found = found.order_by("-id").first()
        if found:
            return found
    return active.filter(campaign=None, vendor_account=None).order_by("-id").first()


def scorecard_list() -> list[Scorecard]:
    return list(
        Scorecard.objects.select_related("campaign", "vendor_account")
        .annotate(latest=Max("versions__number"))
        .order_by("-is_active", "name", "id")
    )


def score_of(*, call: Call, reviewer: Any) -> CallScore | None:
    return (
        CallScore.objects.select_related("version__scorecard")
        .filter(call=call, reviewer=reviewer)
        .first()
    )


@dataclass(frozen=True)
class ItemRow:
    """One item as the review form shows it: the reviewer's answer or else the suggestion."""

    item: ScorecardItem
    value: int | None  # what is checked in the form (None: nothing, or N/A when answered)
    answered_na: bool
    auto: int | None
    auto_reason: str


@dataclass(frozen=True)
class ScoringForm:
    version: ScorecardVersion
    rows: list[ItemRow]
    score: CallScore | None


def scoring_form(*, call: Call, reviewer: Any) -> ScoringForm | None:
    """What the review page shows for scoring: the reviewer's own score against its version, or
    a fresh one against the scorecard that applies now, pre-filled where a source maps."""
    score = score_of(call=call, reviewer=reviewer)
    if score is not None:
        version = score.version
    else:
        scorecard = scorecard_for(call=call)
        version = current_version(scorecard) if scorecard else None
    if version is None:
        return None
    answers = {a.item_id: a for a in score.answers.all()} if score else {}
    evidence = call_evidence(call)
    rows = []
    for item in version.items.all():
        suggestion = auto_value(item, evidence)
        answer = answers.get(item.pk)
        if answer is not None:
            value, answered_na = answer.value, answer.value is None
        else:
            value, answered_na = suggestion.value, False
        rows.append(ItemRow(item, value, answered_na, suggestion.value, suggestion.reason))
    return ScoringForm(version=version, rows=rows, score=score)


# --- Scoring, a pure function --------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreResult:
    score: float | None  # 0–100; None when every item was N/A
    failed_critical: bool


def item_fraction(kind: str, value: int) -> float:
    """An answer on 0..1: pass 1, fail 0; 1 to 5 as 0, .25, .5, .75, 1."""
    return float(value) if kind == ItemKind.PASS_FAIL else (value - 1) / 4


def compute_score(answers: Iterable[tuple[ScorecardItem, int | None]]) -> ScoreResult:
    """Weighted mean of the answered items (N/A leaves the item out); a failed critical item
    fails the call, and a failed call scores 0."""
    total_weight = 0
    weighted = 0.0
    failed_critical = False
    for item, value in answers:
        if value is None:
            continue
        if item.critical and item.kind == ItemKind.PASS_FAIL and value == 0:
            failed_critical = True
        total_weight += item.weight
        weighted += item.weight * item_fraction(item.kind, value)
    if failed_critical:
        return ScoreResult(score=0.0, failed_critical=True)
    if total_weight == 0:
        return ScoreResult(score=None, failed_critical=False)
    return ScoreResult(score=round(100 * weighted / total_weight, 1), failed_critical=False)


# --- Services ------------------------------------------------------------------------------------


class ScorecardRejected(ValueError):
    pass


@dataclass(frozen=True)
class ItemSpec:
    label: str
    kind: str
    weight: int = 1
    description: str = ""
    allows_na: bool = False
    critical: bool = False
    source: str = ""
    source_key: str = ""
    threshold: float | None = None
    direction: str = ThresholdDirection.AT_LEAST


_SPEC_FIELDS = tuple(ItemSpec.__dataclass_fields__)


def _check_item(spec: ItemSpec) -> None:
    name = f"“{spec.label}”"
    if not spec.label.strip():
        raise ScorecardRejected("Every item needs a label.")
    if spec.kind not in ItemKind.values:
        raise ScorecardRejected(f"{name}: choose pass/fail or 1 to 5.")
    if not 1 <= spec.weight <= MAX_WEIGHT:
        raise ScorecardRejected(f"{name}: the weight is from 1 to {MAX_WEIGHT}.")
    if spec.critical and spec.kind != ItemKind.PASS_FAIL:
        raise ScorecardRejected(f"{name}: only a pass/fail item can be critical.")
    if spec.direction not in ThresholdDirection.values:
        raise ScorecardRejected(f"{name}: unknown threshold direction.")
    if spec.source not in ItemSource.values:
        raise ScorecardRejected(f"{name}: unknown source.")
    if not spec.source:
        if spec.source_key or spec.threshold is not None:
            raise ScorecardRejected(f"{name}: a field or threshold needs a source.")
        return
    if not spec.source_key:
        raise ScorecardRejected(f"{name}: name the field of the source to read.")
    known = {
        ItemSource.CALLCOV_COMPLIANCE: CALLCOV_COMPLIANCE_CHECKS,
        ItemSource.CALLCOV_QUALITY: CALLCOV_QUALITY_DIMENSIONS,
        ItemSource.METRIC: METRICS,
    }.get(ItemSource(spec.source))
    if known is not None and spec.source_key not in known:
        raise ScorecardRejected(f"{name}: {spec.source_key!r} is not one of {', '.join(known)}.")
    if spec.source == ItemSource.CALLCOV_COMPLIANCE and spec.kind != ItemKind.PASS_FAIL:
        raise ScorecardRejected(f"{name}: a compliance check passes or fails: use pass/fail.")
    if spec.source == ItemSource.METRIC and spec.threshold is None:
        raise ScorecardRejected(f"{name}: a conversation metric needs a threshold.")
    if spec.source == ItemSource.METRIC and spec.kind == ItemKind.SCALE:
        raise ScorecardRejected(f"{name}: a conversation metric maps to pass/fail items only.")


def _specs_of(version: ScorecardVersion | None) -> list[ItemSpec]:
    if version is None:
        return []
    return [
        ItemSpec(**{field: getattr(item, field) for field in _SPEC_FIELDS})
        for item in version.items.all()
    ]


@transaction.atomic
def scorecard_save(
    *,
    scorecard: Scorecard | None,
    name: str,
    items: list[ItemSpec],
    user: Any,
    campaign_id: int | None = None,
    vendor_account_id: int | None = None,
    is_active: bool = True,
) -> tuple[Scorecard, bool]:
    """Create a scorecard or edit one. Changed items make a new version (old scores keep the
    version they were given against); a name, scope or active change alone makes none.
    Returns the scorecard and whether a version was made."""
    name = name.strip()
    if not name:
        raise ScorecardRejected("Give the scorecard a name.")
    if campaign_id and vendor_account_id:
        raise ScorecardRejected("A scorecard is for one campaign or one vendor account, not both.")
    items = [ItemSpec(**{**asdict(spec), "label": spec.label.strip()}) for spec in items]
    if not items:
        raise ScorecardRejected("A scorecard needs at least one item.")
    if len(items) > MAX_ITEMS:
        raise ScorecardRejected(f"A scorecard has at most {MAX_ITEMS} items.")
    for spec in items:
        _check_item(spec)
    if scorecard is None:
        scorecard = Scorecard(created_by=user if getattr(user, "pk", None) else None)
        latest = None
    else:
        scorecard = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
        latest = current_version(scorecard)
    scorecard.name = name[:120]
    scorecard.campaign_id = campaign_id
    scorecard.vendor_account_id = vendor_account_id
    scorecard.is_active = is_active
    scorecard.save()
    if _specs_of(latest) == items:
        return scorecard, False
    version = ScorecardVersion.objects.create(
        scorecard=scorecard,
        number=(latest.number + 1) if latest else 1,
        created_by=user if getattr(user, "pk", None) else None,
    )
    ScorecardItem.objects.bulk_create(
        ScorecardItem(version=version, position=position, **asdict(spec))
        for position, spec in enumerate(items, start=1)
    )
    return scorecard, True


class ScoreRejected(ValueError):
    pass


def _checked_value(item: ScorecardItem, raw: int | None) -> int | None:
    if raw is None:
        if not item.allows_na:
            raise ScoreRejected(f"“{item.label}” needs an answer (it cannot be N/A).")
        return None
    allowed = (0, 1) if item.kind == ItemKind.PASS_FAIL else (1, 2, 3, 4, 5)
    if raw not in allowed:
        raise ScoreRejected(f"“{item.label}”: {raw} is not an answer this item takes.")
    return raw


@transaction.atomic
def call_score_save(
    *, call: Call, reviewer: Any, version_id: int, answers: Mapping[int, int | None]
) -> CallScore:
    """Store a reviewer's score of a call: every item answered (N/A where allowed), the score
    computed here, and the automatic value offered for each item kept beside the answer.

    A reviewer who already scored the call keeps the version they scored against; a first score
    must be against the scorecard's current version (else the page was stale)."""
    if call.state != CallState.ENDED:
        raise ScoreRejected("Only ended calls can be scored.")
    existing = CallScore.objects.select_for_update().filter(call=call, reviewer=reviewer).first()
    if existing is not None:
        version = existing.version
    else:
        scorecard = scorecard_for(call=call)
        version = current_version(scorecard) if scorecard else None
        if version is None:
            raise ScoreRejected("No scorecard applies to this call.")
    if version.pk != version_id:
        raise ScoreRejected("The scorecard changed while you were scoring: reload and score again.")
    items = list(version.items.all())
    unknown = set(answers) - {item.pk for item in items}
    if unknown:
        raise ScoreRejected("An answer names an item that is not on this scorecard.")
    missing = [item.label for item in items if item.pk not in answers]
    if missing:
        raise ScoreRejected("Answer every item: " + ", ".join(missing) + ".")
    values = [(item, _checked_value(item, answers[item.pk])) for item in items]
    result = compute_score(values)
    score = existing or CallScore(call=call, reviewer=reviewer, version=version)
    score.score = result.score
    score.failed_critical = result.failed_critical
    score.save()
    evidence = call_evidence(call)
    ItemScore.objects.filter(call_score=score).delete()
    ItemScore.objects.bulk_create(
        ItemScore(
            call_score=score, item=item, value=value, auto_value=auto_value(item, evidence).value
        )
        for item, value in values
    )
    return score
