"""Dialling due callbacks against the Revrag sandbox over HTTP: single calls' callbacks by the
beat job, a campaign's by its dispatcher (first, on its pace slots, same agent or any), each
once, and never past a calling rule (hours, caps, do-not-call)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from calls import tasks
from calls.models import Agent, Call, CallbackStatus, CallState
from calls.models import Callback as CallbackRow
from calls.services import agents_sync
from campaigns.dispatch import dispatch_due
from campaigns.models import CallbackAgent, CampaignKind, CampaignStatus, DialState
from campaigns.services import audience_set
from contacts import compliance
from contacts.models import DoNotCallEntry
from tests.factories import CallbackFactory, CallFactory, CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def revrag(make_account):
    account = make_account("revrag")
    agents_sync(account=account)
    return account


def _agents(account) -> list[Agent]:
    return list(Agent.objects.filter(vendor_account=account, is_active=True).order_by("pk"))


def _due_callback(account, *, agent=None, zone="America/Los_Angeles", **fields):
    contact = ContactFactory(time_zone=zone)
    source = CallFactory(
        vendor_account=account,
        agent=agent or _agents(account)[1],
        contact=contact,
        state=CallState.ENDED,
        variables={"customer_name": contact.name},
    )
    values = {"due_at": timezone.now() - timedelta(minutes=1), "time_zone": zone, **fields}
    return CallbackFactory(source_call=source, **values)


def _sandbox_calls(sandbox) -> list[str]:
    return sandbox.state("revrag")["calls"]


def test_it_dials_a_due_callback_once_at_the_sandbox_by_the_agent_the_callee_spoke_to(
    revrag, sandbox, django_capture_on_commit_callbacks
):
    callback = _due_callback(revrag)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dial_due_callbacks() == 1
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.DIALLED
    call = Call.objects.get(pk=callback.call_id)
    assert call.vendor_call_id in _sandbox_calls(sandbox)
    assert (call.agent_id, call.to_number) == (callback.agent_id, callback.to_number)
    assert call.metadata["callback_of_call"] == callback.source_call_id
    assert call.variables == callback.source_call.variables

    # The beat again (or a second worker): nothing more is dialled.
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dial_due_callbacks() == 0
    assert len(_sandbox_calls(sandbox)) == 1


def test_it_does_not_dial_a_callback_before_its_time_nor_a_cancelled_one(revrag, sandbox):
    _due_callback(revrag, due_at=timezone.now() + timedelta(minutes=5))
    _due_callback(revrag, status=CallbackStatus.CANCELLED)
    assert tasks.dial_due_callbacks() == 0
    assert _sandbox_calls(sandbox) == []


def _zone_at_local_hour(hour: int) -> str:
    """An Etc/GMT zone whose local hour is `hour` now (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(ZoneInfo("UTC")).hour) % 24
    if offset > 12:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def test_it_waits_for_the_calling_hours(revrag, sandbox):
    compliance.policy_save(
        max_attempts_per_day=0,
        max_attempts_per_week=0,
        min_gap_minutes=0,
        rules=[{"place": "", "label": "Everywhere", "start_minute": 9 * 60, "end_minute": 20 * 60}],
    )
    callback = _due_callback(revrag, zone=_zone_at_local_hour(3))
    assert tasks.dial_due_callbacks() == 0
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.BOOKED
    local_due = callback.due_at.astimezone(ZoneInfo(callback.time_zone))
    assert (local_due.hour, local_due.minute) == (9, 0) and callback.due_at > timezone.now()
    assert callback.note.startswith("Waiting until ") and "calling hours" in callback.note
    assert _sandbox_calls(sandbox) == []


def test_it_waits_for_the_frequency_caps(revrag, sandbox):
    compliance.policy_save(
        max_attempts_per_day=1,
        max_attempts_per_week=0,
        min_gap_minutes=0,
        rules=[{"place": "", "label": "Everywhere", "start_minute": 0, "end_minute": 24 * 60}],
    )
    callback = _due_callback(revrag)
    compliance.attempt_reserve(phone_e164=callback.to_number, source="single call")
    assert tasks.dial_due_callbacks() == 0
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.BOOKED
    assert callback.due_at > timezone.now() + timedelta(hours=23)
    assert "Frequency cap: at most 1 attempt per 24 h" in callback.note
    assert _sandbox_calls(sandbox) == []


def test_it_cancels_a_callback_to_a_number_put_on_the_do_not_call_list(revrag, sandbox):
    callback = _due_callback(revrag)
    DoNotCallEntry.objects.create(phone_e164=callback.to_number)
    assert tasks.dial_due_callbacks() == 0
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.CANCELLED
    assert "do-not-call" in callback.note
    assert _sandbox_calls(sandbox) == []


def _running_campaign(account, **fields):
    contacts = [ContactFactory() for _ in range(3)]
    campaign = CampaignFactory(
        vendor_account=account,
        agent=_agents(account)[0],
        kind=CampaignKind.PACED,
        calls_per_minute=60,
        max_concurrent_calls=5,
        window_days=[0, 1, 2, 3, 4, 5, 6],
        window_start_hour=0,
        window_end_hour=24,
        retry_rules={},
        **fields,
    )
    audience_set(campaign=campaign, contacts=contacts)
    campaign.status = CampaignStatus.RUNNING  # launched (the launch itself is not under test)
    campaign.save(update_fields=["status"])
    return campaign


@pytest.mark.parametrize(
    ("setting", "agent_index"), [(CallbackAgent.SAME, 1), (CallbackAgent.ANY, 0)]
)
def test_the_campaign_dispatcher_dials_a_due_callback_first_by_the_agent_the_campaign_chose(
    revrag, sandbox, django_capture_on_commit_callbacks, setting, agent_index
):
    campaign = _running_campaign(revrag, callback_agent=setting)
    callback = _due_callback(revrag, campaign=campaign)  # asked on a call with agent 1
    with django_capture_on_commit_callbacks(execute=True):
        result = dispatch_due(campaign.pk)
    assert result.callbacks == 1 and len(result.started) == 1  # one slot now: the callback
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.DIALLED and result.started[0] == callback.call_id
    call = Call.objects.get(pk=callback.call_id)
    assert call.agent_id == _agents(revrag)[agent_index].pk
    assert call.campaign_id == campaign.pk and call.vendor_call_id in _sandbox_calls(sandbox)
    # The single-call beat job leaves a running campaign's callbacks to its dispatcher.
    second = _due_callback(revrag, campaign=campaign)
    assert tasks.dial_due_callbacks() == 0
    second.refresh_from_db()
    assert second.status == CallbackStatus.BOOKED


def test_a_completed_campaigns_callbacks_are_dialled_by_the_beat_job_with_its_choice_of_agent(
    revrag, sandbox, django_capture_on_commit_callbacks
):
    campaign = _running_campaign(revrag, callback_agent=CallbackAgent.ANY)
    campaign.entries.update(state=DialState.COMPLETED)
    callback = _due_callback(revrag, campaign=campaign, due_at=timezone.now() + timedelta(hours=1))
    # Its dial entries are done: the campaign completes, a callback booked or not.
    assert dispatch_due(campaign.pk).reason == "done"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED

    CallbackRow.objects.filter(pk=callback.pk).update(due_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dial_due_callbacks() == 1
    callback.refresh_from_db()
    call = Call.objects.get(pk=callback.call_id)
    assert call.agent_id == campaign.agent_id != callback.agent_id
    assert call.vendor_call_id in _sandbox_calls(sandbox)


def test_a_stopped_campaigns_callbacks_are_not_dialled(revrag, sandbox):
    campaign = _running_campaign(revrag)
    callback = _due_callback(revrag, campaign=campaign)
    campaign.status = CampaignStatus.STOPPED
    campaign.save(update_fields=["status"])
    assert dispatch_due(campaign.pk).started == []
    assert tasks.dial_due_callbacks() == 0
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.BOOKED and _sandbox_calls(sandbox) == []
