"""Native campaigns against the voice platform sandbox: batched push, launch, stop, progress."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import LIVE_STATES, Agent, Call, CallEvent, CallState
from calls.services import agents_sync, call_sync
from campaigns.dispatch import record_outcomes
from campaigns.models import Campaign, CampaignKind, CampaignStatus, DialEntry, DialState
from campaigns.native import (
    NATIVE_SYNC_AFTER_STOP,
    native_campaign_ids_to_sync,
    native_push,
    native_sync,
)
from campaigns.services import InvalidTransition, audience_set, campaign_transition
from contacts.models import Contact, DoNotCallEntry
from vendors.services import vendor_client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def voice_platform(make_account):
    account = make_account("voice_platform")
    agents_sync(account=account)
    return account


def native_campaign(account, size: int) -> Campaign:
    Contact.objects.bulk_create(
        Contact(
            name=f"Person {n}", phone_e164=f"+1415{2000000 + n:07d}", time_zone="America/New_York"
        )
        for n in range(size)
    )
    campaign = Campaign.objects.create(
        name="Native",
        vendor_account=account,
        agent=Agent.objects.filter(vendor_account=account, is_active=True).first(),
        kind=CampaignKind.NATIVE,
        window_days=[0, 1, 2, 3, 4, 5, 6],
        window_start_hour=0,
        window_end_hour=24,
    )
    audience_set(campaign=campaign, contacts=Contact.objects.all())
    return campaign


def test_launch_pushes_the_audience_in_batches_then_launches_and_stop_stops(
    voice_platform, sandbox
):
    campaign = native_campaign(voice_platform, 1101)
    DoNotCallEntry.objects.create(phone_e164="+14152000000")
    campaign_transition(campaign_id=campaign.pk, action="launch")  # pushes on commit

    campaign.refresh_from_db()
    assert campaign.vendor_campaign_id
    assert campaign.pushed_batches == 3
    bulk = sandbox.log("voice_platform", method="POST", path_contains="/contacts/bulk")
    assert [entry["status"] for entry in bulk] == [200, 200, 200]
    assert len({entry["idempotency_key"] for entry in bulk}) == 3
    state = sandbox.state("voice_platform")
    assert state["contacts"] == 1100  # the do-not-call number never leaves callops
    assert DialEntry.objects.get(phone_e164="+14152000000").state == DialState.SKIPPED_DNC
    launches = sandbox.log("voice_platform", method="POST", path_contains="/launch")
    assert len(launches) == 1 and launches[0]["status"] == 200

    # Running again (a retried task) repeats nothing at the vendor.
    assert native_push(campaign_id=campaign.pk) == "launched"
    assert len(sandbox.log("voice_platform", method="POST", path_contains="/contacts/bulk")) == 3

    native_sync(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.vendor_stats["contacts"] == 1100

    with pytest.raises(InvalidTransition, match="cannot pause"):
        campaign_transition(campaign_id=campaign.pk, action="pause")
    campaign_transition(campaign_id=campaign.pk, action="stop")
    stops = sandbox.log("voice_platform", method="POST", path_contains="/stop")
    assert len(stops) == 1 and stops[0]["status"] == 200
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert campaign.vendor_stats["status"].lower() == "stopped"


def test_a_push_resumes_from_the_last_batch_the_vendor_took(voice_platform, sandbox, monkeypatch):
    from campaigns import native

    campaign = native_campaign(voice_platform, 1000)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    real_check = native._native_running
    checks = []

    def dies_before_the_second_batch(campaign_id):
        checks.append(campaign_id)
        return None if len(checks) == 3 else real_check(campaign_id)

    monkeypatch.setattr(native, "_native_running", dies_before_the_second_batch)
    assert native_push(campaign_id=campaign.pk) == "stopped while pushing"
    assert Campaign.objects.get(pk=campaign.pk).pushed_batches == 1
    monkeypatch.setattr(native, "_native_running", real_check)

    assert native_push(campaign_id=campaign.pk) == "launched"
    bulk = sandbox.log("voice_platform", method="POST", path_contains="/contacts/bulk")
    assert len(bulk) == 2  # batch 0 once, then batch 1 once
    assert sandbox.state("voice_platform")["contacts"] == 1000
    assert Campaign.objects.get(pk=campaign.pk).pushed_batches == 2


def test_it_adopts_the_calls_the_vendor_places_and_records_each_contacts_outcome(
    voice_platform, sandbox
):
    sandbox.post(
        "script",
        {
            "vendor": "voice_platform",
            "outcomes": [
                {"reason": "completed", "duration": 20, "ring_seconds": 1},
                {"reason": "no_answer", "duration": 0, "ring_seconds": 1},
                {"reason": "completed", "duration": 30, "ring_seconds": 1},
            ],
        },
    )
    campaign = native_campaign(voice_platform, 3)
    campaign_transition(campaign_id=campaign.pk, action="launch")
    entries = DialEntry.objects.filter(campaign=campaign)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        native_sync(campaign_id=campaign.pk)
        for call_id in Call.objects.filter(state__in=LIVE_STATES).values_list("pk", flat=True):
            call_sync(call_id=call_id)  # what the calls app's sync beat does
        record_outcomes(campaign_id=campaign.pk)  # what the campaigns' outcomes beat does
        if entries.filter(state=DialState.COMPLETED).count() == 3:
            break
        time.sleep(0.2)

    calls = Call.objects.filter(campaign=campaign)
    assert calls.count() == 3
    assert sorted(calls.values_list("to_number", flat=True)) == sorted(
        entries.values_list("phone_e164", flat=True)
    )
    for entry in entries.select_related("last_call"):
        assert entry.state == DialState.COMPLETED
        assert entry.attempts == 1
        assert entry.last_call.contact_id == entry.contact_id
        assert entry.last_call.state == CallState.ENDED
        assert entry.last_outcome == entry.last_call.outcome
    assert sorted(entries.values_list("last_outcome", flat=True)) == sorted(
        ["completed", "completed", "not_picked"]
    )
    assert all(call.transcript for call in calls if call.outcome == "completed")
    # A sync run again (or at the same time on another worker) stores no call twice.
    native_sync(campaign_id=campaign.pk)
    assert Call.objects.filter(campaign=campaign).count() == 3
    # A call missed below newer ones (a sync cut short) is found by the next sync.
    missed = calls.order_by("created_at")[1]
    missed_id, missed_vendor_id = missed.pk, missed.vendor_call_id
    CallEvent.objects.filter(call=missed).delete()
    missed.delete()
    native_sync(campaign_id=campaign.pk)
    found = Call.objects.get(campaign=campaign, vendor_call_id=missed_vendor_id)
    assert found.pk != missed_id and found.state == CallState.ENDED
    assert (
        CallEvent.objects.filter(call__campaign=campaign, message__startswith="Placed").count() == 3
    )


def test_it_stores_the_calls_placed_before_the_stop_and_syncs_a_stopped_campaign_a_while(
    voice_platform,
):
    # The 30-second sync follows running campaigns: calls the vendor placed after its last run
    # and before the stop would never reach the call log or their contacts' entries.
    campaign = native_campaign(voice_platform, 3)
    campaign_transition(campaign_id=campaign.pk, action="launch")
    campaign.refresh_from_db()
    client = vendor_client_for(voice_platform)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.list_calls(campaign_id=campaign.vendor_campaign_id, offset=0, limit=10).total:
            break
        time.sleep(0.1)
    assert not Call.objects.filter(campaign=campaign).exists()  # no sync has run

    campaign_transition(campaign_id=campaign.pk, action="stop")
    placed = client.list_calls(campaign_id=campaign.vendor_campaign_id, offset=0, limit=10)
    assert placed.total >= 1
    assert Call.objects.filter(campaign=campaign).count() == placed.total
    assert DialEntry.objects.filter(campaign=campaign, attempts=1).count() == placed.total

    assert campaign.pk in native_campaign_ids_to_sync()
    Campaign.objects.filter(pk=campaign.pk).update(
        updated_at=timezone.now() - NATIVE_SYNC_AFTER_STOP - timedelta(seconds=1)
    )
    assert campaign.pk not in native_campaign_ids_to_sync()
