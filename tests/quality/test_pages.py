"""Quality pages: defining scorecards, scoring from the review queue, calibration, agreement,
the score trend and its CSV."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from calls.models import CallState
from quality.models import CallScore, ItemKind, ItemSource, Scorecard
from quality.scorecards import ItemSpec, call_score_save, current_version, scorecard_save
from tests.factories import AgentFactory, CallFactory

pytestmark = pytest.mark.django_db


def item_rows(*rows, extra=0):
    """The formset's POST data for items given as dicts (missing fields take defaults)."""
    data = {
        "items-TOTAL_FORMS": str(len(rows) + extra),
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        fields = {"kind": "pass_fail", "weight": "1", "direction": "at_least", **row}
        for key, value in fields.items():
            data[f"items-{index}-{key}"] = value
    for index in range(len(rows), len(rows) + extra):
        data.update({f"items-{index}-kind": "pass_fail", f"items-{index}-weight": "1"})
        data[f"items-{index}-direction"] = "at_least"
    return data


def test_it_lets_a_manager_define_and_edit_a_scorecard_into_a_new_version(client_as):
    client = client_as("manager")
    data = {"name": "Sales QA", "is_active": "on"}
    data |= item_rows(
        {"label": "Verifies identity", "critical": "on", "weight": "3"},
        {"label": "Polite", "kind": "scale"},
        extra=1,
    )
    response = client.post(reverse("quality:scorecard_new"), data)
    assert response.status_code == 302
    scorecard = Scorecard.objects.get(name="Sales QA")
    first = current_version(scorecard)
    assert [(i.label, i.critical, i.weight) for i in first.items.all()] == [
        ("Verifies identity", True, 3),
        ("Polite", False, 1),
    ]
    data["items-1-label"] = "Courteous"
    response = client.post(reverse("quality:scorecard_edit", kwargs={"pk": scorecard.pk}), data)
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert "v2" in page.content.decode() and "v1" in page.content.decode()
    assert current_version(scorecard).number == 2
    changes = AuditEvent.objects.filter(action=AuditAction.SCORECARD_CHANGED).order_by("id")
    assert [(e.actor_label, e.detail["version"]) for e in changes] == [("manuel", 1), ("manuel", 2)]
    assert [i.label for i in first.items.all()] == ["Verifies identity", "Polite"]


def test_it_answers_400_to_a_critical_scale_item_and_stores_nothing(client_as):
    data = {"name": "Bad", "is_active": "on"} | item_rows(
        {"label": "Tone", "kind": "scale", "critical": "on"}
    )
    response = client_as("admin").post(reverse("quality:scorecard_new"), data)
    assert response.status_code == 400
    assert "only a pass/fail item can be critical" in response.content.decode()
    assert not Scorecard.objects.exists()


def test_it_refuses_scorecards_to_operators(client_as):
    response = client_as("operator").get(reverse("quality:scorecards"))
    assert response.status_code == 403


def scorecard(items=None):
    items = items or [
        ItemSpec(label="Verifies identity", kind=ItemKind.PASS_FAIL, critical=True),
        ItemSpec(label="Polite", kind=ItemKind.SCALE, allows_na=True),
    ]
    return scorecard_save(scorecard=None, name="Sales QA", items=items, user=None)[0]


def test_it_shows_the_scorecard_in_the_review_queue_and_stores_the_score_with_the_reviewer(
    client_as, role_users
):
    version = current_version(scorecard())
    identity, polite = version.items.all()
    call = CallFactory(state=CallState.ENDED)
    client = client_as("manager")
    page = client.get(reverse("review"), {"call": call.pk, "status": "all"})
    body = page.content.decode()
    assert 'id="scorecard-form"' in body and f'name="item-{identity.pk}"' in body
    response = client.post(
        reverse("quality:score_save", kwargs={"pk": call.pk}),
        {
            "version": version.pk,
            f"item-{identity.pk}": "1",
            f"item-{polite.pk}": "4",
            "queue": "status=all",
        },
    )
    assert response.status_code == 302
    assert "call=" in response["Location"]
    score = CallScore.objects.get(call=call)
    assert score.reviewer == role_users["manager"]
    assert score.score == round(100 * (1 + 0.75) / 2, 1)


def test_it_answers_400_when_an_item_is_unanswered_and_stores_nothing(client_as):
    version = current_version(scorecard())
    identity, _polite = version.items.all()
    call = CallFactory(state=CallState.ENDED)
    response = client_as("manager").post(
        reverse("quality:score_save", kwargs={"pk": call.pk}),
        {"version": version.pk, f"item-{identity.pk}": "1"},
    )
    assert response.status_code == 400
    assert "Answer every item: Polite" in response.content.decode()
    assert not CallScore.objects.exists()


def test_it_shows_each_reviewers_answers_on_the_calibration_page(client_as, role_users):
    version = current_version(scorecard())
    identity, polite = version.items.all()
    call = CallFactory(state=CallState.ENDED)
    for role, answers in (("manager", ("1", "5")), ("admin", ("0", "na"))):
        call_score_save(
            call=call,
            reviewer=role_users[role],
            version_id=version.pk,
            answers={identity.pk: int(answers[0]), polite.pk: None if answers[1] == "na" else 5},
        )
    client = client_as("manager")
    listing = client.get(reverse("quality:calibration"))
    assert f"Call #{call.pk}" in listing.content.decode()
    page = client.get(reverse("quality:calibration_detail", kwargs={"pk": call.pk}))
    body = page.content.decode()
    assert "Pass" in body and "Fail" in body and "N/A" in body
    assert page.context["calibration"].score_spread == 100


def test_it_shows_agreement_the_trend_and_its_csv(client_as, role_users):
    items = [
        ItemSpec(
            label="Verifies identity",
            kind=ItemKind.PASS_FAIL,
            source=ItemSource.VARIABLE,
            source_key="identity_checked",
        ),
        # A reviewer-only item beside it does not hide the scorecard from the agreement page.
        ItemSpec(label="Polite", kind=ItemKind.SCALE, allows_na=True),
    ]
    version = current_version(scorecard(items))
    identity, polite = version.items.all()
    agent = AgentFactory(name="=Ada")
    for auto, human in ((1, 1), (0, 0), (1, 0)):
        call = CallFactory(
            state=CallState.ENDED, agent=agent, extracted_variables={"identity_checked": auto}
        )
        call_score_save(
            call=call,
            reviewer=role_users["manager"],
            version_id=version.pk,
            answers={identity.pk: human, polite.pk: None},
        )
    client = client_as("manager")
    agreement = client.get(reverse("quality:agreement"))
    [row] = agreement.context["rows"]
    assert (row.pairs, round(row.percent, 1)) == (3, 66.7)
    trend = client.get(reverse("quality:quality"), {"group_by": "agent"})
    assert trend.status_code == 200 and "=Ada" in trend.content.decode()
    csv = client.get(reverse("quality:export"), {"group_by": "agent"})
    lines = csv.content.decode().splitlines()
    assert lines[0] == "week,Agent,scores,average score,failed calls"
    assert ",'=Ada,3,33.3,0" in lines[1]
    assert client.get(reverse("quality:quality"), {"since": "yesterday"}).status_code == 400
    conversation = client.get(reverse("quality:export"), {"series": "conversation"})
    assert conversation.content.decode().startswith("week,Agent,measured calls,agent talk share")
    assert client.get(reverse("quality:export"), {"series": "calls"}).status_code == 400
    assert client_as("operator").get(reverse("quality:quality")).status_code == 403
