"""A stopped campaign says what happened to everyone; the list shows progress at a glance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls.models import CallOutcome, CallState, CommonOutcome
from campaigns.dispatch import record_outcome
from campaigns.models import Campaign, DialState
from tests.factories import (
    AgentFactory,
    CallFactory,
    CampaignFactory,
    ContactFactory,
    DialEntryFactory,
    DoNotCallEntryFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def running():
    agent = AgentFactory(vendor_account=VendorAccountFactory())
    return CampaignFactory(
        vendor_account=agent.vendor_account,
        agent=agent,
        status="running",
        window_days=[0, 1, 2, 3, 4, 5, 6],
        window_start_hour=0,
        window_end_hour=24,
        launched_at=timezone.now(),
    )


def entry(campaign, state, phone, **extra):
    contact = ContactFactory(name=f"Person {phone[-2:]}", phone_e164=phone)
    return DialEntryFactory(
        campaign=campaign, contact=contact, phone_e164=phone, state=state, **extra
    )


def detail(client, campaign, **params):
    url = reverse("campaigns:detail", kwargs={"pk": campaign.pk})
    return client.get(url, params).content.decode()


def test_it_says_what_happened_to_everyone_once_stopped(client_as, running):
    waiting = entry(running, DialState.PENDING, "+14155550701")
    retrying = entry(
        running,
        DialState.RETRY_SCHEDULED,
        "+14155550702",
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(hours=2),
    )
    done = entry(running, DialState.COMPLETED, "+14155550703", attempts=1)
    client = client_as("operator")
    client.post(reverse("campaigns:stop", kwargs={"pk": running.pk}))
    states = dict(Campaign.objects.get(pk=running.pk).entries.values_list("pk", "state"))
    assert states == {
        waiting.pk: DialState.NOT_DIALLED,
        retrying.pk: DialState.RETRY_CANCELLED,
        done.pk: DialState.COMPLETED,
    }
    page = detail(client, running)
    assert "Not dialled (stopped)" in page and "Cancelled (stopped)" in page
    assert "calls in the last minute" not in page and "no call starts any more" in page
    assert "100% settled" in page
    assert "1 not dialled (stopped)" in page


def test_it_cancels_a_retry_for_a_call_that_ends_after_the_stop(client_as, running):
    call = CallFactory(
        vendor_account=running.vendor_account,
        agent=running.agent,
        campaign=running,
        state=CallState.RUNNING,
    )
    dialling = entry(running, DialState.DIALLING, "+14155550711", attempts=1, last_call=call)
    client_as("operator").post(reverse("campaigns:stop", kwargs={"pk": running.pk}))
    type(call).objects.filter(pk=call.pk).update(
        state=CallState.ENDED,
        outcome=CallOutcome.NOT_PICKED,
        common_outcome=CommonOutcome.NO_ANSWER,
        ended_at=timezone.now(),
    )
    assert record_outcome(entry_id=dialling.pk) == 1
    dialling.refresh_from_db()
    assert dialling.state == DialState.RETRY_CANCELLED and dialling.next_attempt_at is None


def test_the_preview_of_a_launched_campaign_agrees_with_its_entries(client_as, running):
    # Put on the do-not-call list after launch: the entry is still pending (the dispatcher
    # checks again at dialling time), so the preview must not count it as skipped.
    later = entry(running, DialState.PENDING, "+14155550721")
    entry(running, DialState.SKIPPED_DNC, "+14155550722")
    DoNotCallEntryFactory(phone_e164=later.phone_e164)
    client = client_as("operator")
    page = detail(client, running)
    assert 'href="?group=dnc#entries">1</a>' in page and "1 of 2" in page
    listed = detail(client, running, group="dnc").split('id="entries"')[1]
    assert "+14155550722" in listed and "+14155550721" not in listed
    assert "dial-pending" not in listed


def test_the_list_shows_progress_state_and_pace(client_as, running):
    entry(running, DialState.COMPLETED, "+14155550731")
    entry(running, DialState.PENDING, "+14155550732")
    running.calls_per_minute, running.max_concurrent_calls = 12, 4
    running.save()
    page = client_as("manager").get(reverse("campaigns:list")).content.decode()
    row = page[page.index(running.name) :].split("</tr>")[0]
    assert '<progress max="2" value="1"' in row and "1 / 2" in row
    assert "Running" in row and "12/min" in row and "4 at once" in row
