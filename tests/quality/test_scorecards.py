"""Scorecards: versions on edit, critical items, the score, and automatic pre-fill."""

from __future__ import annotations

import pytest

from calls.models import CallConversation, CallState, PostCallAction, PostCallStep, StepStatus
from quality.models import ItemKind, ItemSource, ScorecardVersion, ThresholdDirection
from quality.scorecards import (
    ItemSpec,
    ScorecardRejected,
    ScoreRejected,
    call_score_save,
    compute_score,
    current_version,
    scorecard_for,
    scorecard_save,
    scoring_form,
)
from tests.factories import CallFactory, CampaignFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db

GREETING = ItemSpec(label="Greets the customer", kind=ItemKind.SCALE, weight=1)
IDENTITY = ItemSpec(
    label="Verifies identity",
    kind=ItemKind.PASS_FAIL,
    weight=3,
    critical=True,
    source=ItemSource.CALLCOV_COMPLIANCE,
    source_key="identity_verification",
)
OFFER = ItemSpec(label="Mentions the offer", kind=ItemKind.PASS_FAIL, weight=2, allows_na=True)


def make(items=(GREETING, IDENTITY, OFFER), **scope):
    scorecard, _ = scorecard_save(
        scorecard=None, name="Sales QA", items=list(items), user=None, **scope
    )
    return scorecard


def answers_for(version, *values):
    return {item.pk: value for item, value in zip(version.items.all(), values, strict=True)}


def test_it_makes_a_new_version_when_items_change_and_old_scores_keep_theirs(role_users):
    scorecard = make()
    call = CallFactory(state=CallState.ENDED)
    first = current_version(scorecard)
    score = call_score_save(
        call=call,
        reviewer=role_users["manager"],
        version_id=first.pk,
        answers=answers_for(first, 5, 1, 1),
    )
    _, changed = scorecard_save(
        scorecard=scorecard, name="Sales QA", items=[GREETING, IDENTITY], user=None
    )
    second = current_version(scorecard)
    assert changed and second.number == 2 and second.items.count() == 2
    score.refresh_from_db()
    assert score.version == first and first.items.count() == 3
    # The same reviewer re-scoring keeps the version they scored against.
    again = scoring_form(call=call, reviewer=role_users["manager"])
    assert again.version == first
    # A new reviewer scores against the new version.
    assert scoring_form(call=call, reviewer=role_users["admin"]).version == second


def test_it_makes_no_version_when_only_the_name_changes():
    scorecard = make()
    _, changed = scorecard_save(
        scorecard=scorecard, name="Renamed", items=[GREETING, IDENTITY, OFFER], user=None
    )
    assert not changed
    assert ScorecardVersion.objects.filter(scorecard=scorecard).count() == 1


def test_it_fails_the_call_when_a_critical_item_fails(role_users):
    scorecard = make()
    version = current_version(scorecard)
    score = call_score_save(
        call=CallFactory(state=CallState.ENDED),
        reviewer=role_users["manager"],
        version_id=version.pk,
        answers=answers_for(version, 5, 0, 1),
    )
    assert score.failed_critical is True
    assert score.score == 0


def test_it_weights_items_and_leaves_not_applicable_out():
    scorecard = make()
    items = list(current_version(scorecard).items.all())
    # Greeting 4 of 5 -> 0.75 (weight 1), identity pass (weight 3), offer N/A.
    result = compute_score(zip(items, [4, 1, None], strict=True))
    assert result.score == round(100 * (0.75 + 3) / 4, 1)
    assert not result.failed_critical
    # Offer failed (weight 2): (0.75 + 3 + 0) / 6.
    assert compute_score(zip(items, [4, 1, 0], strict=True)).score == 62.5


def test_it_refuses_an_answer_missing_or_not_applicable_where_not_allowed(role_users):
    version = current_version(make())
    call = CallFactory(state=CallState.ENDED)
    manager = role_users["manager"]
    items = list(version.items.all())
    with pytest.raises(ScoreRejected, match="Answer every item"):
        call_score_save(call=call, reviewer=manager, version_id=version.pk, answers={})
    with pytest.raises(ScoreRejected, match="cannot be N/A"):
        call_score_save(
            call=call,
            reviewer=manager,
            version_id=version.pk,
            answers={items[0].pk: None, items[1].pk: 1, items[2].pk: None},
        )
    with pytest.raises(ScoreRejected, match="not an answer"):
        call_score_save(
            call=call,
            reviewer=manager,
            version_id=version.pk,
            answers=answers_for(version, 6, 1, 1),
        )
    assert not call.scores.exists()


def test_it_refuses_a_critical_scale_item_and_an_unknown_callcov_check():
    with pytest.raises(ScorecardRejected, match="only a pass/fail item can be critical"):
        make([ItemSpec(label="Tone", kind=ItemKind.SCALE, critical=True)])
    with pytest.raises(ScorecardRejected, match="is not one of"):
        make(
            [
                ItemSpec(
                    label="X",
                    kind=ItemKind.PASS_FAIL,
                    source=ItemSource.CALLCOV_COMPLIANCE,
                    source_key="made_up",
                )
            ]
        )


def test_it_picks_the_campaigns_scorecard_then_the_accounts_then_the_default():
    call = CallFactory(state=CallState.ENDED, campaign=CampaignFactory())
    default = make()
    assert scorecard_for(call=call) == default
    by_account = make(vendor_account_id=call.vendor_account_id)
    assert scorecard_for(call=call) == by_account
    by_campaign = make(campaign_id=call.campaign_id)
    assert scorecard_for(call=call) == by_campaign
    other = CallFactory(state=CallState.ENDED, vendor_account=VendorAccountFactory())
    assert scorecard_for(call=other) == default


def analysed(call, results):
    PostCallStep.objects.create(
        call=call,
        rule_name="Analyse",
        action=PostCallAction.ANALYSE,
        status=StepStatus.DONE,
        result={"id": "an_1", "status": "completed", "results": results},
    )


def test_it_prefills_from_callcov_variables_and_metrics_and_keeps_the_automatic_value(
    role_users,
):
    items = [
        IDENTITY,
        ItemSpec(
            label="Warm greeting",
            kind=ItemKind.SCALE,
            source=ItemSource.CALLCOV_QUALITY,
            source_key="greeting",
        ),
        ItemSpec(
            label="Few interruptions",
            kind=ItemKind.PASS_FAIL,
            source=ItemSource.CALLCOV_QUALITY,
            source_key="interruptions",
            threshold=2,
            direction=ThresholdDirection.AT_MOST,
        ),
        ItemSpec(
            label="Booked a demo",
            kind=ItemKind.PASS_FAIL,
            source=ItemSource.VARIABLE,
            source_key="demo_booked",
        ),
        ItemSpec(
            label="Answers quickly",
            kind=ItemKind.PASS_FAIL,
            source=ItemSource.METRIC,
            source_key="response_gap_p90_seconds",
            threshold=2.0,
            direction=ThresholdDirection.AT_MOST,
        ),
    ]
    version = current_version(make(items))
    call = CallFactory(state=CallState.ENDED, extracted_variables={"demo_booked": "yes"})
    analysed(
        call,
        {
            "compliance": {"identity_verification": {"passed": False, "details": "Missing"}},
            "quality": {"greeting": {"present": True, "score": 0.8}, "interruptions": {"count": 4}},
        },
    )
    CallConversation.objects.create(
        call=call,
        computed_at=call.created_at,
        lines=4,
        turns=4,
        agent_words=10,
        customer_words=10,
        timed=True,
        silence_threshold_seconds=3,
        response_gap_p90_seconds=1.5,
    )
    form = scoring_form(call=call, reviewer=role_users["manager"])
    assert [row.auto for row in form.rows] == [0, 4, 0, 1, 1]
    assert form.rows[0].auto_reason == "CallCov: Identity verification failed"
    # The reviewer overrides the compliance check (passed) and confirms the rest.
    score = call_score_save(
        call=call,
        reviewer=role_users["manager"],
        version_id=version.pk,
        answers=answers_for(version, 1, 4, 0, 1, 1),
    )
    stored = list(score.answers.order_by("item__position").values_list("value", "auto_value"))
    assert stored == [(1, 0), (4, 4), (0, 0), (1, 1), (1, 1)]
    assert not score.failed_critical


def test_it_offers_nothing_when_the_call_has_no_analysis(role_users):
    make()
    form = scoring_form(call=CallFactory(state=CallState.ENDED), reviewer=role_users["manager"])
    assert [row.auto for row in form.rows] == [None, None, None]
