"""Campaigns with arms: the stratified draw, both vendors dialled over HTTP in their arms, a
contact kept in its arm across retries, and weight changes and stopped arms while running."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from calls.models import Agent, Call
from calls.services import agents_sync
from campaigns.arms import ArmError, ArmSpec, arm_change, arms_save, draw_arms
from campaigns.dispatch import dispatch_due
from campaigns.models import Campaign, CampaignStatus, DialEntry, DialState
from campaigns.services import campaign_transition
from contacts.models import Contact
from tests.campaigns.test_dispatcher import make_campaign, run_until, zone_at_local_hour

ZONES = ["America/New_York", "Europe/Paris", "Asia/Tokyo", "Australia/Sydney", ""]
SOURCES = ["import leads.csv", "import fair.csv", ""]
# Calls are sent to the vendor on commit: the tests that dial commit.
dialling = pytest.mark.django_db(transaction=True)


def test_it_splits_the_whole_within_one_contact_of_the_weights_and_each_stratum_within_two():
    entries = []
    for index in range(3000):
        # Strata of uneven sizes, as real audiences have.
        zone = ZONES[(index * 7) % 5 if index % 3 else 0]
        entries.append((index + 1, zone, SOURCES[index % 3 if index % 4 else 0]))
    weights = [(11, 5), (12, 3), (13, 2)]

    assigned = draw_arms(entries, weights, seed="42:1")

    total = sum(weight for _arm, weight in weights)
    overall = Counter(assigned.values())
    for arm, weight in weights:
        assert abs(overall[arm] - len(entries) * weight / total) <= 1
    strata = Counter((zone, source) for _pk, zone, source in entries)
    by_stratum = Counter((zone, source, assigned[pk]) for pk, zone, source in entries)
    for (zone, source), size in strata.items():
        for arm, weight in weights:
            assert abs(by_stratum[(zone, source, arm)] - size * weight / total) < 2


def test_it_redraws_the_same_split_from_the_same_seed_and_another_from_another():
    entries = [(index, ZONES[index % 5], "") for index in range(200)]
    weights = [(1, 1), (2, 1)]
    first = draw_arms(entries, weights, seed="7:1")
    assert draw_arms(entries, weights, seed="7:1") == first
    assert draw_arms(entries, weights, seed="7:2") != first


@pytest.fixture
def two_vendors(make_account, sandbox):
    sandbox.set_rate_limit("revrag", 6000, 60)
    sandbox.set_rate_limit("voice_platform", 6000, 60, group="POST /v1/calls")
    revrag = make_account("revrag", rate_limits={"default": 6000})
    voice = make_account("voice_platform", rate_limits={"POST /v1/calls": 6000, "default": 6000})
    agents_sync(account=revrag)
    agents_sync(account=voice)
    return revrag, voice


def agent_of(account) -> Agent:
    return Agent.objects.filter(vendor_account=account, is_active=True).first()


def contacts(count: int, zone: str) -> list[Contact]:
    return [
        Contact.objects.create(
            name=f"Arm {index}", phone_e164=f"+1415888{index:04d}", time_zone=zone
        )
        for index in range(count)
    ]


def two_arm_campaign(two_vendors, audience, weights=(1, 1), **fields) -> Campaign:
    revrag, voice = two_vendors
    campaign = make_campaign(revrag, audience, **fields)
    arms_save(
        campaign=campaign,
        arms=[
            ArmSpec(revrag, agent_of(revrag), weights[0], {}),
            ArmSpec(voice, agent_of(voice), weights[1], {"name": "{{ contact.name }}"}, backup=1),
        ],
    )
    return campaign


def script(sandbox, outcome: dict, count: int) -> None:
    for vendor in ("revrag", "voice_platform"):
        sandbox.post("script", {"vendor": vendor, "outcomes": [outcome] * count})


@dialling
def test_it_dials_each_arm_through_its_own_vendor_over_http(two_vendors, sandbox):
    zone = zone_at_local_hour(6, timezone.now())
    campaign = two_arm_campaign(two_vendors, contacts(12, zone), calls_per_minute=240)
    script(sandbox, {"reason": "AGENT_HANGUP", "duration": 20, "ring_seconds": 1}, 12)
    campaign_transition(campaign_id=campaign.pk, action="launch")
    campaign.refresh_from_db()
    assert campaign.arm_seed is not None

    run_until(
        campaign,
        lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED,
        timeout=40,
    )

    first, second = campaign.arms.order_by("position")
    assert (first.entries.count(), second.entries.count()) == (6, 6)
    for entry in DialEntry.objects.filter(campaign=campaign).select_related("last_call", "arm"):
        assert entry.last_call.vendor_account_id == entry.arm.vendor_account_id
        assert entry.last_call.metadata["campaign_arm_id"] == entry.arm_id
    assert len(sandbox.state("revrag")["calls"]) == 6
    assert len(sandbox.state("voice_platform")["calls"]) == 6
    voice_calls = Call.objects.filter(campaign=campaign, vendor_account=second.vendor_account)
    assert all(call.variables == {"name": call.contact.name} for call in voice_calls)


@dialling
def test_it_keeps_a_contact_in_its_arm_across_retries(two_vendors, sandbox):
    zone = zone_at_local_hour(6, timezone.now())
    campaign = two_arm_campaign(
        two_vendors,
        contacts(4, zone),
        calls_per_minute=240,
        retry_rules={"no_answer": {"retry_after_minutes": 30, "max_attempts": 2}},
    )
    script(sandbox, {"reason": "CALL_NOT_PICKED", "duration": 0, "ring_seconds": 1}, 8)
    campaign_transition(campaign_id=campaign.pk, action="launch")

    def settled() -> bool:
        return not DialEntry.objects.filter(campaign=campaign, state=DialState.DIALLING).exists()

    run_until(
        campaign,
        lambda: Call.objects.filter(campaign=campaign).count() == 4 and settled(),
        timeout=20,
    )
    arms_before = dict(DialEntry.objects.filter(campaign=campaign).values_list("pk", "arm_id"))
    later = timezone.now() + timedelta(minutes=31)
    # One call a pace slot: a run a second apart starts each retry.
    retried = [
        dispatch_due(campaign.pk, now=later + timedelta(seconds=step)).started for step in range(6)
    ]
    assert sum(len(started) for started in retried) == 4

    for entry in DialEntry.objects.filter(campaign=campaign).select_related("arm"):
        assert entry.arm_id == arms_before[entry.pk]
        vendors = set(
            Call.objects.filter(metadata__dial_entry_id=entry.pk).values_list(
                "vendor_account_id", flat=True
            )
        )
        assert vendors == {entry.arm.vendor_account_id}
        assert entry.attempts == 2


@dialling
def test_it_draws_undialled_contacts_again_after_a_weight_change_and_audits_it(
    two_vendors, sandbox, role_users
):
    zone = zone_at_local_hour(6, timezone.now())
    campaign = two_arm_campaign(two_vendors, contacts(40, zone), calls_per_minute=2)
    script(sandbox, {"reason": "AGENT_HANGUP", "duration": 20, "ring_seconds": 1}, 4)
    campaign_transition(campaign_id=campaign.pk, action="launch")
    dispatch_due(campaign.pk)  # one call at the campaign's pace: the rest are undialled
    dialled = dict(
        DialEntry.objects.filter(campaign=campaign, attempts__gt=0).values_list("pk", "arm_id")
    )
    assert len(dialled) == 1
    first, second = campaign.arms.order_by("position")

    drawn = arm_change(
        campaign_id=campaign.pk, arm_id=second.pk, weight=3, actor=role_users["operator"]
    )

    assert drawn == 39
    undialled = Counter(
        DialEntry.objects.filter(campaign=campaign, attempts=0).values_list("arm_id", flat=True)
    )
    assert abs(undialled[second.pk] - 39 * 3 / 4) <= 1
    assert dict(DialEntry.objects.filter(pk__in=dialled).values_list("pk", "arm_id")) == dialled
    event = AuditEvent.objects.get(action=AuditAction.CAMPAIGN_ARM_CHANGED)
    assert event.detail["weight_before"] == 1 and event.detail["weight_after"] == 3
    assert event.actor == role_users["operator"]
    campaign.refresh_from_db()
    assert campaign.arm_draws == 2


@dialling
def test_it_stops_an_arm_and_gives_its_undialled_contacts_to_the_others(two_vendors, sandbox):
    zone = zone_at_local_hour(6, timezone.now())
    campaign = two_arm_campaign(two_vendors, contacts(10, zone), calls_per_minute=240)
    script(sandbox, {"reason": "AGENT_HANGUP", "duration": 20, "ring_seconds": 1}, 10)
    campaign_transition(campaign_id=campaign.pk, action="launch")
    first, second = campaign.arms.order_by("position")

    arm_change(campaign_id=campaign.pk, arm_id=second.pk, stop=True)

    assert not DialEntry.objects.filter(arm=second).exists()
    run_until(
        campaign,
        lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED,
        timeout=40,
    )
    assert not Call.objects.filter(campaign=campaign, vendor_account=second.vendor_account)
    assert len(sandbox.state("voice_platform")["calls"]) == 0
    with pytest.raises(ArmError, match="last running arm"):
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
        arm_change(campaign_id=campaign.pk, arm_id=first.pk, stop=True)
