"""Placing calls through the sandbox over real HTTP: dispatch, retries, failures, sync, agents."""

from __future__ import annotations

import time
from functools import partial

import pytest
from django.utils import timezone

from calls.models import Agent, Call, CallState
from calls.services import (
    CallRejected,
    RetryLater,
    agents_sync,
    call_create,
    call_dispatch,
    call_sync,
    calls_due_for_sync,
)
from contacts.models import DoNotCallEntry
from vendors.http import RetryPolicy
from vendors.services import vendor_client_for


@pytest.fixture
def impatient_client(monkeypatch):
    """Vendor clients that give up after two quick attempts (tests of a vendor that is down)."""
    quick = RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.1, max_wait=5.0)
    monkeypatch.setattr(
        "calls.vendor_calls.vendor_client_for", partial(vendor_client_for, retry=quick)
    )


@pytest.fixture
def revrag(make_account):
    account = make_account("revrag")
    agents_sync(account=account)
    return account


def first_agent(account) -> Agent:
    return Agent.objects.filter(vendor_account=account, is_active=True).first()


def sandbox_calls(sandbox) -> list:
    return sandbox.state("revrag")["calls"]


def test_it_copies_the_agents_of_an_account_and_deactivates_vanished_ones(revrag):
    listed = Agent.objects.filter(vendor_account=revrag)
    assert listed.count() >= 1
    assert all(agent.variables is not None for agent in listed)
    Agent.objects.create(vendor_account=revrag, vendor_agent_id="gone", name="Old agent")
    agents_sync(account=revrag)
    assert not Agent.objects.get(vendor_agent_id="gone").is_active


def test_it_places_a_call_once_and_follows_it_to_its_end(
    revrag, sandbox, make_user, django_capture_on_commit_callbacks
):
    operator = make_user("olivia")
    with django_capture_on_commit_callbacks(execute=True):
        call, created = call_create(
            vendor_account=revrag,
            agent=first_agent(revrag),
            to_number="+14155550123",
            variables={"name": "Ada"},
            created_by=operator,
        )
    call.refresh_from_db()
    assert created
    assert call.state == CallState.QUEUED
    assert call.vendor_call_id
    assert len(sandbox_calls(sandbox)) == 1

    deadline = time.monotonic() + 30
    while call.state != CallState.ENDED and time.monotonic() < deadline:
        time.sleep(0.3)
        call_sync(call_id=call.pk)
        call.refresh_from_db()
    assert call.state == CallState.ENDED
    assert call.vendor_outcome
    assert call.outcome
    assert call.events.filter(source="sync").exists()


def test_it_retries_a_lost_answer_with_the_same_key_and_places_one_call(revrag, sandbox, make_user):
    sandbox.faults("revrag", drop_after_create=1)
    call, _ = call_create(
        vendor_account=revrag, agent=first_agent(revrag), to_number="+14155550124"
    )
    call_dispatch(call_id=call.pk)
    call.refresh_from_db()
    assert call.state == CallState.QUEUED
    assert len(sandbox_calls(sandbox)) == 1
    keys = [e["idempotency_key"] for e in sandbox.log("revrag", method="POST")]
    assert keys == [str(call.idempotency_key)] * 2


def test_it_fails_a_call_with_the_vendors_own_message_on_a_permanent_error(revrag, sandbox):
    agent = first_agent(revrag)
    agent.vendor_agent_id = "00000000-0000-0000-0000-000000000000"
    agent.save()
    call, _ = call_create(vendor_account=revrag, agent=agent, to_number="+14155550125")
    call_dispatch(call_id=call.pk)
    call.refresh_from_db()
    assert call.state == CallState.FAILED
    assert call.error_message
    assert "Traceback" not in call.error_message
    assert sandbox_calls(sandbox) == []


def test_it_asks_to_retry_later_while_the_vendor_is_down(revrag, sandbox, impatient_client):
    sandbox.faults("revrag", error_rate=1.0)
    call, _ = call_create(
        vendor_account=revrag, agent=first_agent(revrag), to_number="+14155550126"
    )
    with pytest.raises(RetryLater):
        call_dispatch(call_id=call.pk)
    call.refresh_from_db()
    assert call.state == CallState.PENDING
    assert "will try again" in call.events.last().message


def test_it_gives_up_after_three_attempts_with_a_reason(revrag, sandbox, impatient_client):
    sandbox.faults("revrag", error_rate=1.0)
    call, _ = call_create(
        vendor_account=revrag, agent=first_agent(revrag), to_number="+14155550127"
    )
    for _attempt in range(3):
        with pytest.raises(RetryLater):
            call_dispatch(call_id=call.pk)
    call_dispatch(call_id=call.pk)
    call.refresh_from_db()
    assert call.state == CallState.FAILED
    assert "Gave up after 3 attempts" in call.error_message


def test_it_never_dials_a_number_on_the_do_not_call_list(revrag, sandbox):
    DoNotCallEntry.objects.create(phone_e164="+14155550128", reason="asked")
    with pytest.raises(CallRejected, match="do-not-call"):
        call_create(vendor_account=revrag, agent=first_agent(revrag), to_number="4155550128")
    assert Call.objects.count() == 0


def test_it_refuses_a_number_that_does_not_parse_with_the_reason(revrag):
    with pytest.raises(CallRejected, match="cannot be called: too short") as caught:
        call_create(vendor_account=revrag, agent=first_agent(revrag), to_number="+1415")
    assert caught.value.field == "to_number"


def test_it_refuses_an_agent_of_another_account(revrag, make_account):
    other = make_account("voice_platform")
    agents_sync(account=other)
    with pytest.raises(CallRejected, match="is not an agent of"):
        call_create(vendor_account=revrag, agent=first_agent(other), to_number="+14155550129")


def test_it_returns_the_same_call_for_a_repeated_request_key(revrag, make_user):
    operator = make_user("olivia")
    first, created = call_create(
        vendor_account=revrag,
        agent=first_agent(revrag),
        to_number="+14155550130",
        created_by=operator,
        request_key="retry-me",
    )
    second, created_again = call_create(
        vendor_account=revrag,
        agent=first_agent(revrag),
        to_number="+14155550130",
        created_by=operator,
        request_key="retry-me",
    )
    assert (created, created_again, first.pk) == (True, False, second.pk)


def test_it_lets_only_one_sync_job_claim_a_due_call(revrag):
    call, _ = call_create(
        vendor_account=revrag, agent=first_agent(revrag), to_number="+14155550131"
    )
    call_dispatch(call_id=call.pk)
    Call.objects.filter(pk=call.pk).update(next_sync_at=call.created_at)
    assert calls_due_for_sync() == [call.pk]
    assert calls_due_for_sync() == []


def test_it_does_not_dial_a_call_of_a_campaign_stopped_after_it_was_written(revrag, sandbox):
    from calls.services import STOPPED_CAMPAIGN_STATUS
    from campaigns.models import CampaignStatus
    from tests.factories import CampaignFactory

    assert STOPPED_CAMPAIGN_STATUS == CampaignStatus.STOPPED
    campaign = CampaignFactory(vendor_account=revrag, agent=first_agent(revrag))
    call, _ = call_create(
        vendor_account=revrag,
        agent=first_agent(revrag),
        to_number="+14155550132",
        campaign_id=campaign.pk,
    )
    campaign.status = CampaignStatus.STOPPED
    campaign.save()
    call_dispatch(call_id=call.pk)
    call.refresh_from_db()
    assert call.state == CallState.FAILED
    assert "campaign was stopped" in call.error_message
    assert sandbox_calls(sandbox) == []


def test_it_polls_a_call_with_one_request_while_its_vendor_drops_connections(revrag, sandbox):
    # A poll is retried by its own schedule; the HTTP core's retries slept seconds in the
    # worker per poll, holding the processes that start campaigns' calls on their slots.
    call, _ = call_create(
        vendor_account=revrag, agent=first_agent(revrag), to_number="+14155550133"
    )
    call_dispatch(call_id=call.pk)
    call.refresh_from_db()
    assert call.vendor_call_id
    sandbox.faults("revrag", drop_before_response=100)

    call_sync(call_id=call.pk)

    polls = [e for e in sandbox.log("revrag", method="GET") if call.vendor_call_id in e["path"]]
    assert len(polls) == 1 and polls[0]["dropped"]
    call.refresh_from_db()
    assert call.sync_failures == 1 and call.next_sync_at > timezone.now()


def test_it_sends_a_campaign_call_once_per_attempt_while_its_vendor_fails(revrag, sandbox):
    # Its task's countdown retries it; the HTTP core's backoff slept seconds in the worker per
    # call, holding the processes that start the campaign's next calls on their slots.
    from tests.factories import CampaignFactory

    campaign = CampaignFactory(vendor_account=revrag, agent=first_agent(revrag))
    call, _ = call_create(
        vendor_account=revrag,
        agent=first_agent(revrag),
        to_number="+14155550134",
        campaign_id=campaign.pk,
    )
    sandbox.faults("revrag", error_rate=1.0, error_status=502)

    with pytest.raises(RetryLater):
        call_dispatch(call_id=call.pk)

    posts = [e for e in sandbox.log("revrag", method="POST") if "trigger" in e["path"]]
    assert len(posts) == 1 and posts[0]["status"] == 502
    call.refresh_from_db()
    assert call.state == CallState.PENDING and call.dispatch_attempts == 1
