"""The arm comparison on known data: counts, rates with their intervals, the test against the
first arm, "leading" only when significant, durations, cost, analysis scores, follow-ups, CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from calls.models import Call, CallState, CommonOutcome, PostCallAction, StepStatus
from campaigns.arms import ArmSpec, arms_save
from campaigns.comparison import arm_comparison, comparison_rows
from campaigns.models import Campaign, CampaignStatus, DialEntry
from tests.factories import (
    AgentFactory,
    CampaignFactory,
    ContactFactory,
    PostCallStepFactory,
    VendorAccountFactory,
    VoiceAccountFactory,
)

pytestmark = pytest.mark.django_db


def calls(campaign, arm, outcomes: dict[str, int], *, seconds: int, live: int = 0) -> list[Call]:
    made = []
    for outcome, count in outcomes.items():
        made += [
            Call(
                vendor_account=arm.vendor_account,
                agent=arm.agent,
                campaign=campaign,
                to_number="+14155550100",
                state=CallState.ENDED,
                common_outcome=outcome,
                duration_seconds=seconds if outcome == CommonOutcome.COMPLETED else None,
                metadata={"campaign_arm_id": arm.pk},
            )
            for _ in range(count)
        ]
    made += [
        Call(
            vendor_account=arm.vendor_account,
            agent=arm.agent,
            campaign=campaign,
            to_number="+14155550100",
            state=CallState.RUNNING,
            metadata={"campaign_arm_id": arm.pk},
        )
        for _ in range(live)
    ]
    return Call.objects.bulk_create(made)


@pytest.fixture
def compared():
    revrag = VendorAccountFactory(price_per_minute=Decimal("0.10"))
    voice = VoiceAccountFactory(price_per_minute=Decimal("0.20"))
    campaign = CampaignFactory(vendor_account=revrag)
    first, second = arms_save(
        campaign=campaign,
        arms=[
            ArmSpec(revrag, AgentFactory(vendor_account=revrag), 1, {}),
            ArmSpec(voice, AgentFactory(vendor_account=voice), 1, {}),
        ],
    )
    for arm, count in ((first, 3), (second, 2)):
        for _ in range(count):
            DialEntry.objects.create(
                campaign=campaign, contact=ContactFactory(), phone_e164="+1", arm=arm
            )
    # Completion 30/100 against 45/100 (p = 0.0285); voicemail 20 vs 20; connect 40 vs 55.
    a_calls = calls(
        campaign,
        first,
        {
            CommonOutcome.COMPLETED: 30,
            CommonOutcome.DECLINED: 10,
            CommonOutcome.VOICEMAIL: 20,
            CommonOutcome.NO_ANSWER: 40,
        },
        seconds=60,
        live=5,
    )
    b_calls = calls(
        campaign,
        second,
        {
            CommonOutcome.COMPLETED: 45,
            CommonOutcome.TRANSFERRED: 10,
            CommonOutcome.VOICEMAIL: 20,
            CommonOutcome.NO_ANSWER: 25,
        },
        seconds=120,
    )
    for call, score in ((a_calls[0], 2), (a_calls[1], 4), (b_calls[0], 1)):
        step = PostCallStepFactory(call=call, status=StepStatus.DONE)
        step.result = {"results": {"coaching": {"customer_effort_score": score}}}
        step.save()
    PostCallStepFactory(call=b_calls[1], action=PostCallAction.FOLLOW_UP, status=StepStatus.DONE)
    PostCallStepFactory(call=b_calls[2], action=PostCallAction.FOLLOW_UP, status=StepStatus.FAILED)
    return campaign


def test_it_computes_each_arms_figures_on_known_data(compared):
    a, b = arm_comparison(compared).arms

    assert (a.contacts, a.dialled, a.finished) == (3, 105, 100)
    assert (b.contacts, b.dialled, b.finished) == (2, 100, 100)
    assert a.rates["completion"].successes == 30 and b.rates["completion"].successes == 45
    assert a.rates["connect"].share == pytest.approx(0.40)
    assert b.rates["connect"].share == pytest.approx(0.55)
    assert b.rates["voicemail"].share == pytest.approx(0.20)
    # Wilson 95 % of 30/100: 0.2189-0.3958.
    assert a.rates["completion"].low == pytest.approx(0.2189, abs=1e-4)
    assert a.rates["completion"].high == pytest.approx(0.3958, abs=1e-4)
    assert b.rates["completion"].test.p_value == pytest.approx(0.028459, abs=1e-5)
    assert a.rates["completion"].test is None
    assert (a.average_seconds, a.median_seconds) == (60.0, 60.0)
    assert (b.average_seconds, b.median_seconds) == (120.0, 120.0)
    # 30 minutes at 0.10 = 3.00, over 30 completed; 90 minutes at 0.20 = 18.00, over 45.
    assert (a.cost, a.cost_per_completed) == (Decimal("3.00"), Decimal("0.10"))
    assert (b.cost, b.cost_per_completed) == (Decimal("18.00"), Decimal("0.40"))
    assert (a.analysed, a.average_effort_score) == (2, 3.0)
    assert (b.analysed, b.average_effort_score) == (1, 1.0)
    assert (a.follow_ups_sent, b.follow_ups_sent) == (0, 1)


def test_it_shows_leading_only_when_significant_at_the_chosen_level(compared):
    a, b = arm_comparison(compared, level=0.05).arms
    assert b.rates["completion"].leading  # p = 0.028
    assert b.rates["connect"].leading  # 55/100 vs 40/100: p = 0.034
    assert not b.rates["voicemail"].leading and not a.rates["voicemail"].leading
    assert not a.rates["completion"].leading

    a, b = arm_comparison(compared, level=0.01).arms
    assert not b.rates["completion"].leading and not b.rates["connect"].leading


def test_it_writes_the_comparison_as_csv(compared):
    rows = comparison_rows(arm_comparison(compared))
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    parsed = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert [row["arm"] for row in parsed] == ["Arm A", "Arm B"]
    assert parsed[1]["completion rate"] == "0.4500"
    assert parsed[1]["completion leading"] == "yes"
    assert parsed[1]["completion p vs first arm"] == "0.0285"
    assert parsed[0]["cost per completed call"] == "0.10"


def test_it_shows_the_comparison_page_and_its_csv_to_a_manager(compared, client_as):
    manager = client_as("manager")
    page = manager.get(reverse("campaigns:arms", kwargs={"pk": compared.pk}))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Arm B" in body and "Leading" in body and "Set weight" not in body
    export = manager.get(reverse("campaigns:arms_csv", kwargs={"pk": compared.pk}))
    assert export["Content-Type"].startswith("text/csv")
    assert export.content.decode().splitlines()[0].startswith("arm,vendor account")


def test_it_lets_an_operator_shift_a_weight_and_refuses_a_bad_one(compared, client_as):
    Campaign.objects.filter(pk=compared.pk).update(status=CampaignStatus.RUNNING)
    second = compared.arms.get(position=2)
    url = reverse("campaigns:arm_weight", kwargs={"pk": compared.pk, "arm_id": second.pk})
    operator = client_as("operator")

    for bad in ("0", "-1", "abc", "", "99999"):
        response = operator.post(url, {"weight": bad})
        assert response.status_code == 400
        assert "weight is a whole number" in response.content.decode()
    second.refresh_from_db()
    assert second.weight == 1

    assert operator.post(url, {"weight": "4"}).status_code == 302
    second.refresh_from_db()
    assert second.weight == 4
    assert AuditEvent.objects.filter(action=AuditAction.CAMPAIGN_ARM_CHANGED).count() == 1
    assert client_as("manager").post(url, {"weight": "2"}).status_code == 403


def test_it_stops_an_arm_only_after_confirmation(compared, client_as):
    Campaign.objects.filter(pk=compared.pk).update(status=CampaignStatus.RUNNING)
    second = compared.arms.get(position=2)
    url = reverse("campaigns:arm_stop", kwargs={"pk": compared.pk, "arm_id": second.pk})
    operator = client_as("operator")
    confirm = operator.get(url)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    second.refresh_from_db()
    assert not second.is_stopped
    assert operator.post(url).status_code == 302
    second.refresh_from_db()
    assert second.is_stopped
