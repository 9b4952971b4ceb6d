"""Failover between arms over real HTTP: while an arm's vendor is down (its breaker open after
the sandbox's 503), its dials spill to its backup arm; when the breaker closes, they return."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.utils import timezone

from calls.models import Call
from campaigns.arms import ArmSpec, arms_save
from campaigns.failover import Spill, campaign_spills
from campaigns.models import Campaign, CampaignStatus, DialEntry, DialState
from campaigns.services import campaign_transition
from tests.campaigns.test_arms import agent_of, contacts, script, two_vendors  # noqa: F401
from tests.campaigns.test_dispatcher import make_campaign, run_until, zone_at_local_hour
from vendors import breaker
from vendors.errors import VendorError
from vendors.models import BreakerState
from vendors.services import vendor_client_for

dialling = pytest.mark.django_db(transaction=True)


def backed_up_campaign(two_vendors, audience, *, backup: bool = True) -> Campaign:  # noqa: F811
    """Arm A on Revrag backed up by arm B on the voice platform; all contacts drawn into A."""
    revrag, voice = two_vendors
    campaign = make_campaign(revrag, audience, calls_per_minute=240)
    arms_save(
        campaign=campaign,
        arms=[
            ArmSpec(revrag, agent_of(revrag), 1, {}, backup=2 if backup else None),
            ArmSpec(voice, agent_of(voice), 1, {}),
        ],
    )
    return campaign


def launch_all_in_arm_a(campaign: Campaign) -> None:
    campaign_transition(campaign_id=campaign.pk, action="launch")
    first = campaign.arms.get(position=1)
    # The draw splits the audience; this test is about where arm A's dials go.
    DialEntry.objects.filter(campaign=campaign).update(arm=first)


def take_revrag_down(sandbox, revrag) -> None:
    """The vendor answers 503 to one request and its retries: the breaker opens. Then the
    vendor answers again: only the open breaker keeps callops away until its cool-down."""
    sandbox.faults(revrag.kind, fail_next=[503] * 10)
    with vendor_client_for(revrag) as client, pytest.raises(VendorError):
        client.list_agents()
    sandbox.faults(revrag.kind, fail_next=[])
    assert breaker.state_of(revrag.pk).state == BreakerState.OPEN


def finished(campaign: Campaign):
    return lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


@dialling
def test_it_spills_an_arms_dials_to_its_backup_while_its_vendor_is_down(two_vendors, sandbox):  # noqa: F811
    revrag, voice = two_vendors
    zone = zone_at_local_hour(6, timezone.now())
    campaign = backed_up_campaign(two_vendors, contacts(8, zone))
    script(sandbox, {"reason": "AGENT_HANGUP", "duration": 20, "ring_seconds": 1}, 8)
    take_revrag_down(sandbox, revrag)
    launch_all_in_arm_a(campaign)

    run_until(campaign, finished(campaign), timeout=40)

    first, second = campaign.arms.order_by("position")
    assert len(sandbox.state("revrag")["calls"]) == 0
    assert len(sandbox.state("voice_platform")["calls"]) == 8
    numbers = Counter(Call.objects.filter(campaign=campaign).values_list("to_number", flat=True))
    assert len(numbers) == 8 and set(numbers.values()) == {1}  # each contact once
    for entry in DialEntry.objects.filter(campaign=campaign).select_related("last_call"):
        assert entry.arm_id == first.pk  # the contact stays in its arm
        assert entry.attempts == 1
        assert entry.last_call.vendor_account_id == voice.pk
        assert entry.last_call.metadata["spilled_from_arm_id"] == first.pk
        assert entry.last_call.metadata["campaign_arm_id"] == second.pk
    assert campaign_spills(campaign) == [Spill("Arm A", "Arm B", 8)]


@dialling
def test_it_returns_to_the_arm_once_its_breaker_closes(two_vendors, sandbox):  # noqa: F811
    revrag, _voice = two_vendors
    zone = zone_at_local_hour(6, timezone.now())
    campaign = backed_up_campaign(two_vendors, contacts(6, zone))
    script(sandbox, {"reason": "AGENT_HANGUP", "duration": 20, "ring_seconds": 1}, 6)
    take_revrag_down(sandbox, revrag)
    launch_all_in_arm_a(campaign)

    def three_dialled() -> bool:
        return Call.objects.filter(campaign=campaign).count() >= 3

    run_until(campaign, three_dialled, timeout=30)
    assert breaker.breaker_reset(revrag.pk)  # what an admin's "Close it" does
    run_until(campaign, finished(campaign), timeout=40)

    spilled = Call.objects.filter(campaign=campaign, metadata__has_key="spilled_from_arm_id")
    direct = Call.objects.filter(campaign=campaign, vendor_account=revrag)
    assert spilled.count() >= 3
    assert direct.count() >= 1
    assert spilled.count() + direct.count() == 6
    assert len(sandbox.state("revrag")["calls"]) == direct.count()


@dialling
def test_it_waits_without_a_backup_and_sends_nothing(two_vendors, sandbox):  # noqa: F811
    revrag, _voice = two_vendors
    zone = zone_at_local_hour(6, timezone.now())
    campaign = backed_up_campaign(two_vendors, contacts(3, zone), backup=False)
    take_revrag_down(sandbox, revrag)
    launch_all_in_arm_a(campaign)

    from campaigns.dispatch import dispatch_due

    result = dispatch_due(campaign.pk)

    assert result.started == [] and result.deferred == 3
    assert not Call.objects.filter(campaign=campaign).exists()
    for entry in DialEntry.objects.filter(campaign=campaign):
        assert entry.state == DialState.PENDING
        assert entry.next_attempt_at is not None and entry.next_attempt_at > timezone.now()
        assert "circuit open" in entry.note


@dialling
def test_it_shows_the_down_arm_and_the_spill_on_the_campaign_and_arms_pages(
    two_vendors,  # noqa: F811
    sandbox,
    client_as,
):
    revrag, _voice = two_vendors
    zone = zone_at_local_hour(6, timezone.now())
    campaign = backed_up_campaign(two_vendors, contacts(2, zone))
    script(sandbox, {"reason": "AGENT_HANGUP", "duration": 20, "ring_seconds": 1}, 2)
    take_revrag_down(sandbox, revrag)
    launch_all_in_arm_a(campaign)
    run_until(campaign, finished(campaign), timeout=30)

    from django.urls import reverse

    for page in ("campaigns:detail", "campaigns:arms"):
        html = client_as("manager").get(reverse(page, args=[campaign.pk])).content.decode()
        assert (
            f"Arm A's vendor ({revrag.name})" in html and "Its dials go to Arm B meanwhile." in html
        )
        assert "Arm A → Arm B: 2 calls" in html


@pytest.mark.django_db  # no commit: the calls' own dispatch tasks stay queued, as on a busy worker
def test_it_starts_a_call_on_its_slot_with_one_request_while_the_vendor_drops_connections(
    two_vendors,  # noqa: F811
    sandbox,
):
    from campaigns.dispatch import dispatch_due, start_calls_now

    zone = zone_at_local_hour(6, timezone.now())
    campaign = backed_up_campaign(two_vendors, contacts(2, zone))
    launch_all_in_arm_a(campaign)
    sandbox.faults("revrag", drop_before_response=100)

    result = dispatch_due(campaign.pk)
    start_calls_now(result)

    # One request, no backoff sleeps in the dispatcher's task: the call's task retries it.
    assert len(result.started) == 1
    assert len(sandbox.log("revrag", method="POST")) == 1
    call = Call.objects.get(pk=result.started[0])
    assert call.state == "pending" and call.vendor_call_id == ""
    assert breaker.state_of(call.vendor_account_id).consecutive_failures == 1


@pytest.mark.django_db  # no commit: the calls are sent by start_calls_now only, as on time
def test_it_makes_one_dial_the_probe_and_spills_the_others_so_no_slot_is_lost(
    two_vendors,  # noqa: F811
    sandbox,
):
    # A catch-up run writing several of arm A's dials just after the breaker's cool-down: one
    # request may go (the probe); dials written for Revrag besides it were refused unsent.
    from datetime import timedelta

    from campaigns.dispatch import dispatch_due, start_calls_now

    revrag, voice = two_vendors
    revrag.breaker_cooldown_seconds = 1
    revrag.save(update_fields=["breaker_cooldown_seconds"])
    zone = zone_at_local_hour(6, timezone.now())
    campaign = backed_up_campaign(two_vendors, contacts(4, zone))
    launch_all_in_arm_a(campaign)
    sandbox.faults("revrag", error_rate=1.0, error_status=503)  # down, and stays down
    with vendor_client_for(revrag) as client, pytest.raises(VendorError):
        client.list_agents()
    assert breaker.state_of(revrag.pk).state == BreakerState.OPEN
    time.sleep(1.2)  # the cool-down is over: the next request is the probe
    assert breaker.allows_call(revrag.pk)
    # Four slots are due at once (240 calls a minute, the schedule a second behind).
    Campaign.objects.filter(pk=campaign.pk).update(
        next_slot_at=timezone.now() - timedelta(seconds=0.9)
    )

    result = dispatch_due(campaign.pk)
    start_calls_now(result)

    assert len(result.started) == 4
    calls = Call.objects.filter(pk__in=result.started)
    assert calls.filter(vendor_account=revrag).count() == 1  # the probe
    assert calls.filter(vendor_account=voice, metadata__has_key="spilled_from_arm_id").count() == 3
    # Every slot's call reached a vendor: the probe Revrag (503, the breaker open again), the
    # others the voice platform.
    revrag_posts = [e for e in sandbox.log("revrag", method="POST") if "trigger" in e["path"]]
    assert len(revrag_posts) == 1 and revrag_posts[0]["status"] == 503
    assert len(sandbox.state("voice_platform")["calls"]) == 3
    assert breaker.state_of(revrag.pk).state == BreakerState.OPEN
