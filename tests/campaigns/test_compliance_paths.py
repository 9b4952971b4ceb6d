"""The calling policy on campaign paths, against the sandbox over HTTP: a paced entry outside
the hours waits for the next allowed time with the rule as its note, a native push holds it
back and pushes it once allowed, and two campaigns racing for one number keep to the cap."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from calls.models import Agent, Call
from calls.services import agents_sync
from campaigns.dispatch import dispatch_due
from campaigns.models import Campaign, CampaignKind, DialEntry, DialState
from campaigns.native import native_sync
from campaigns.services import audience_set, campaign_transition
from contacts.compliance import policy_restore_defaults
from contacts.models import CallingHoursRule, CompliancePolicy, Contact, DialAttempt

pytestmark = pytest.mark.django_db(transaction=True)

FLORIDA_WAIT = "Waiting: Outside calling hours for Florida: 8:00–20:00 local."


def zone_at_local_hour(hour: int) -> str:
    """An Etc/GMT zone whose local hour is `hour` right now (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(ZoneInfo("UTC")).hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def shipped_hours_without_caps() -> None:
    policy_restore_defaults()
    CompliancePolicy.objects.filter(pk=1).update(max_attempts_per_day=0, max_attempts_per_week=0)


def contacts_late_in_florida_and_midday_in_new_york() -> tuple[Contact, Contact]:
    late = Contact.objects.create(
        name="Late Lou", phone_e164="+13055550142", time_zone=zone_at_local_hour(22)
    )
    midday = Contact.objects.create(
        name="Noon Nia", phone_e164="+12125550143", time_zone=zone_at_local_hour(12)
    )
    return late, midday


def campaign_of(account, kind: str, contacts, **fields) -> Campaign:
    values = {
        "name": f"{kind} campaign",
        "vendor_account": account,
        "agent": Agent.objects.filter(vendor_account=account, is_active=True).first(),
        "kind": kind,
        "window_days": [0, 1, 2, 3, 4, 5, 6],
        "window_start_hour": 0,
        "window_end_hour": 24,
        "calls_per_minute": 60,
        "retry_rules": {},
    }
    campaign = Campaign.objects.create(**{**values, **fields})
    audience_set(campaign=campaign, contacts=contacts)
    return campaign


@pytest.fixture
def revrag(make_account, sandbox):
    sandbox.set_rate_limit("revrag", 6000, 60)
    account = make_account("revrag", rate_limits={"default": 6000})
    agents_sync(account=account)
    return account


@pytest.fixture
def voice_platform(make_account):
    account = make_account("voice_platform")
    agents_sync(account=account)
    return account


def test_it_defers_a_paced_entry_outside_hours_to_the_next_allowed_time(revrag, sandbox):
    shipped_hours_without_caps()
    late, midday = contacts_late_in_florida_and_midday_in_new_york()
    campaign = campaign_of(revrag, CampaignKind.PACED, [late, midday])
    campaign_transition(campaign_id=campaign.pk, action="launch")

    result = dispatch_due(campaign.pk)

    assert result.deferred == 1
    assert [call.to_number for call in Call.objects.filter(campaign=campaign)] == [
        midday.phone_e164
    ]
    waiting = DialEntry.objects.get(contact=late)
    assert waiting.state == DialState.PENDING  # waiting, not failed
    assert waiting.note == FLORIDA_WAIT
    local_now = timezone.now().astimezone(ZoneInfo(late.time_zone))
    eight_tomorrow = (local_now + timedelta(days=1)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    assert waiting.next_attempt_at == eight_tomorrow
    # The vendor was asked for one call only: New York's.
    assert len(sandbox.log("revrag", method="POST", path_contains="/trigger/single")) == 1


def test_it_puts_off_every_entry_outside_hours_at_once_so_the_slot_goes_to_an_allowed_one(
    revrag,
):
    shipped_hours_without_caps()
    zone = zone_at_local_hour(22)
    late = [
        Contact.objects.create(name=f"Late {n}", phone_e164=f"+1305555{n:04d}", time_zone=zone)
        for n in range(8)
    ]
    midday = Contact.objects.create(
        name="Noon Nia", phone_e164="+12125550143", time_zone=zone_at_local_hour(12)
    )
    # One slot per run, and the late ones first in the dialling order: without putting them all
    # off at once, the run's claim rounds would end before reaching New York.
    campaign = campaign_of(revrag, CampaignKind.PACED, [*late, midday], calls_per_minute=1)
    campaign_transition(campaign_id=campaign.pk, action="launch")

    result = dispatch_due(campaign.pk)

    assert [call.to_number for call in Call.objects.filter(campaign=campaign)] == [
        midday.phone_e164
    ]
    assert result.deferred == 8
    waiting = DialEntry.objects.filter(contact__in=late)
    assert {entry.note for entry in waiting} == {FLORIDA_WAIT}
    assert all(entry.next_attempt_at > timezone.now() for entry in waiting)


def test_it_holds_a_native_entry_outside_hours_and_pushes_it_once_allowed(voice_platform, sandbox):
    shipped_hours_without_caps()
    late, midday = contacts_late_in_florida_and_midday_in_new_york()
    campaign = campaign_of(voice_platform, CampaignKind.NATIVE, [late, midday])
    campaign_transition(campaign_id=campaign.pk, action="launch")  # pushes on commit

    assert sandbox.state("voice_platform")["contacts"] == 1
    held = DialEntry.objects.get(contact=late)
    assert (held.state, held.note) == (DialState.PENDING, FLORIDA_WAIT)
    assert held.next_attempt_at > timezone.now()

    # Its time comes (here: an admin opens Florida's hours and the wait is over): the next
    # sync pushes it to the running vendor campaign.
    CallingHoursRule.objects.filter(place="US-FL").update(start_minute=0, end_minute=24 * 60)
    DialEntry.objects.filter(pk=held.pk).update(next_attempt_at=timezone.now())
    native_sync(campaign_id=campaign.pk)

    assert sandbox.state("voice_platform")["contacts"] == 2
    held.refresh_from_db()
    assert (held.state, held.note, held.next_attempt_at) == (DialState.DIALLING, "", None)
    assert DialAttempt.objects.filter(phone_e164=late.phone_e164).count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
def test_it_keeps_two_campaigns_racing_for_the_same_numbers_within_the_cap(revrag):
    CallingHoursRule.objects.update(start_minute=0, end_minute=24 * 60)
    CompliancePolicy.objects.filter(pk=1).update(max_attempts_per_day=1, max_attempts_per_week=7)
    people = [
        Contact.objects.create(name=f"Shared {n}", phone_e164=f"+1415555{n:04d}") for n in range(6)
    ]
    campaigns = [
        campaign_of(
            revrag, CampaignKind.PACED, people, calls_per_minute=600, max_concurrent_calls=50
        )
        for _ in range(2)
    ]
    for campaign in campaigns:
        campaign_transition(campaign_id=campaign.pk, action="launch")
    # Both a few seconds behind their pace: each run may start every entry at once, so both
    # campaigns reach for the same six numbers in the same instant.
    Campaign.objects.filter(pk__in=[c.pk for c in campaigns]).update(
        next_slot_at=timezone.now() - timedelta(seconds=4)
    )
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def worker(campaign_id: int) -> None:
        try:
            barrier.wait()
            for _round in range(4):
                dispatch_due(campaign_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(c.pk,)) for c in campaigns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    calls_per_number = {
        person.phone_e164: Call.objects.filter(to_number=person.phone_e164).count()
        for person in people
    }
    assert calls_per_number == {person.phone_e164: 1 for person in people}
    waiting = DialEntry.objects.filter(state=DialState.PENDING)
    assert waiting.count() == 6  # one campaign's entry of each number waits for the cap
    assert all(entry.note.startswith("Waiting: ") for entry in waiting)
