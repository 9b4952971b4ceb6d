"""Agreement between CallCov and reviewers, and calibration between reviewers, on known data."""

from __future__ import annotations

import pytest

from calls.models import CallState
from quality.agreement import agreement_by_item, calibration_for, cohen_kappa, percent_agreement
from quality.models import CallScore, ItemKind, ItemScore, ItemSource
from quality.scorecards import ItemSpec, call_score_save, current_version, scorecard_save
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def test_it_computes_kappa_as_worked_by_hand():
    # 10 calls, automatic value first. Both pass: 4, both fail: 3, auto pass/human fail: 2,
    # auto fail/human pass: 1. po = 7/10. Auto passes 6/10, human passes 5/10.
    # pe = .6 * .5 + .4 * .5 = .5, kappa = (.7 - .5) / (1 - .5) = 0.4.
    pairs = [(1, 1)] * 4 + [(0, 0)] * 3 + [(1, 0)] * 2 + [(0, 1)]
    assert percent_agreement(pairs) == 70
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_it_computes_kappa_over_five_categories():
    # (1,1) (2,2) (3,3) (3,4) (5,5) (4,4): po = 5/6.
    # auto: 1,2,3,3,5,4 -> p(3) = 2/6; human: 1,2,3,4,5,4 -> p(4) = 2/6.
    # pe = (1*1 + 1*1 + 2*1 + 1*2 + 1*1) / 36 = 7/36. kappa = (30/36 - 7/36) / (29/36) = 23/29.
    pairs = [(1, 1), (2, 2), (3, 3), (3, 4), (5, 5), (4, 4)]
    assert cohen_kappa(pairs) == pytest.approx(23 / 29)


def test_it_leaves_kappa_undefined_when_chance_already_agrees_fully():
    assert cohen_kappa([(1, 1), (1, 1)]) is None
    assert cohen_kappa([]) is None
    assert percent_agreement([]) is None


def test_it_measures_agreement_per_item_from_stored_scores(make_user):
    items = [
        ItemSpec(
            label="Verifies identity",
            kind=ItemKind.PASS_FAIL,
            source=ItemSource.CALLCOV_COMPLIANCE,
            source_key="identity_verification",
        ),
        ItemSpec(label="Polite", kind=ItemKind.SCALE),
    ]
    scorecard, _ = scorecard_save(scorecard=None, name="QA", items=items, user=None)
    version = current_version(scorecard)
    identity, polite = version.items.all()
    reviewer = make_user("rita")
    for auto, human in [(1, 1)] * 4 + [(0, 0)] * 3 + [(1, 0)] * 2 + [(0, 1)]:
        score = CallScore.objects.create(
            call=CallFactory(state=CallState.ENDED), version=version, reviewer=reviewer
        )
        ItemScore.objects.create(call_score=score, item=identity, value=human, auto_value=auto)
        # No automatic value: not counted.
        ItemScore.objects.create(call_score=score, item=polite, value=3, auto_value=None)
    [row] = agreement_by_item(scorecard=scorecard)
    assert (row.label, row.pairs, row.percent) == ("Verifies identity", 10, 70)
    assert row.kappa == pytest.approx(0.4)


def test_it_shows_each_reviewers_answer_and_the_spread_per_item(make_user):
    items = [
        ItemSpec(label="Polite", kind=ItemKind.SCALE),
        ItemSpec(label="Offer", kind=ItemKind.PASS_FAIL, allows_na=True),
    ]
    scorecard, _ = scorecard_save(scorecard=None, name="QA", items=items, user=None)
    version = current_version(scorecard)
    polite, offer = version.items.all()
    call = CallFactory(state=CallState.ENDED)
    for name, answers in (("ann", (5, 1)), ("bob", (2, None)), ("cy", (4, 0))):
        call_score_save(
            call=call,
            reviewer=make_user(name),
            version_id=version.pk,
            answers={polite.pk: answers[0], offer.pk: answers[1]},
        )
    calibration = calibration_for(call=call)
    assert [s.reviewer.username for s in calibration.scores] == ["ann", "bob", "cy"]
    polite_row, offer_row = calibration.rows
    assert polite_row.values == [5, 2, 4] and polite_row.spread == 3
    assert offer_row.values == [1, None, 0] and offer_row.spread == 1
    # ann 100, bob 25 (polite 2 only), cy (0.75 + 0) / 2 = 37.5.
    assert calibration.score_spread == 75
