"""Quality analytics: score trend per agent, vendor account, campaign; worst items."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call, CallState
from quality.models import ItemKind
from quality.scorecards import ItemSpec, call_score_save, current_version, scorecard_save
from quality.trends import GroupBy, score_trend, worst_items
from tests.factories import AgentFactory, CallFactory, CampaignFactory

pytestmark = pytest.mark.django_db

ITEMS = [
    ItemSpec(label="Discloses recording", kind=ItemKind.PASS_FAIL, critical=True),
    ItemSpec(label="Polite", kind=ItemKind.SCALE),
]


def scored(reviewer, version, agent, days_ago, answers, campaign=None):
    call = CallFactory(state=CallState.ENDED, agent=agent, campaign=campaign)
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    disclose, polite = version.items.all()
    return call_score_save(
        call=call,
        reviewer=reviewer,
        version_id=version.pk,
        answers={disclose.pk: answers[0], polite.pk: answers[1]},
    )


def test_it_averages_scores_per_week_and_agent_and_counts_failed_calls(make_user):
    scorecard, _ = scorecard_save(scorecard=None, name="QA", items=ITEMS, user=None)
    version = current_version(scorecard)
    reviewer = make_user("rita")
    ada, bo = AgentFactory(name="Ada"), AgentFactory(name="Bo")
    scored(reviewer, version, ada, 0, (1, 5))  # 100
    scored(reviewer, version, ada, 0, (1, 3))  # (1 + .5) / 2 = 75
    scored(reviewer, version, bo, 0, (0, 5))  # critical failed: 0
    scored(reviewer, version, ada, 14, (1, 1))  # 50, two weeks earlier
    rows = score_trend(group_by=GroupBy.AGENT)
    this_week = [row for row in rows if row.week == max(r.week for r in rows)]
    assert [(r.group, r.scores, r.average, r.failed) for r in this_week] == [
        ("Ada", 2, 87.5, 0),
        ("Bo", 1, 0.0, 1),
    ]
    assert rows[0].group == "Ada" and rows[0].average == 50


def test_it_groups_by_campaign_and_lists_the_most_failed_items(make_user):
    scorecard, _ = scorecard_save(scorecard=None, name="QA", items=ITEMS, user=None)
    version = current_version(scorecard)
    reviewer = make_user("rita")
    agent, campaign = AgentFactory(), CampaignFactory(name="Spring")
    scored(reviewer, version, agent, 0, (0, 5), campaign=campaign)
    scored(reviewer, version, agent, 0, (1, 2), campaign=campaign)
    scored(reviewer, version, agent, 0, (0, 4))
    [spring] = [row for row in score_trend(group_by=GroupBy.CAMPAIGN) if row.group == "Spring"]
    assert (spring.scores, spring.failed) == (2, 1)
    worst = worst_items()
    assert [(w.label, w.failed, w.answers) for w in worst] == [
        ("Discloses recording", 2, 3),
        ("Polite", 1, 3),
    ]
    assert worst[0].failed_share == 66.7


def test_it_averages_conversation_metrics_per_week_and_agent_over_timed_calls():
    from calls.models import CallConversation
    from quality.trends import conversation_trend

    ada = AgentFactory(name="Ada")

    def measured(timed, share, p90, silences):
        call = CallFactory(state=CallState.ENDED, agent=ada)
        CallConversation.objects.create(
            call=call,
            computed_at=timezone.now(),
            lines=4,
            turns=4,
            agent_words=10,
            customer_words=10,
            timed=timed,
            silence_threshold_seconds=3,
            agent_talk_share=share,
            response_gap_p90_seconds=p90,
            long_silences=silences,
        )

    measured(True, 0.6, 1.0, 0)
    measured(True, 0.4, 3.0, 2)
    measured(False, None, None, None)  # no timings: left out
    [row] = conversation_trend(group_by=GroupBy.AGENT)
    assert (row.group, row.calls, row.talk_share) == ("Ada", 2, 50.0)
    assert (row.response_gap_p90, row.long_silences) == (2.0, 1.0)
