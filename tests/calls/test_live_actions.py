"""Ending and transferring a running voice-platform call, against the sandbox."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from calls.models import Agent, Call, CallState
from calls.services import (
    LiveActionFailed,
    agents_sync,
    call_create,
    call_end,
    call_request_handoff,
    call_sync,
    call_transfer,
)


@pytest.fixture
def voice(make_account, sandbox):
    account = make_account("voice_platform")
    agents_sync(account=account)
    # A long conversation, so the call is still talking while the test acts on it.
    sandbox.post(
        "script",
        {
            "vendor": "voice_platform",
            "outcomes": [{"reason": "completed", "duration": 900, "ring_seconds": 2}],
        },
    )
    return account


def talking_call(account, sandbox) -> Call:
    call, _ = call_create(
        vendor_account=account,
        agent=Agent.objects.filter(vendor_account=account).first(),
        to_number="+14155550177",
    )
    from calls.services import call_dispatch

    call_dispatch(call_id=call.pk)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        call_sync(call_id=call.pk)
        call.refresh_from_db()
        if call.vendor_status == "in_progress":
            return call
        time.sleep(0.2)
    raise AssertionError(f"the call never started talking ({call.vendor_status})")


def test_it_ends_a_running_call(voice, sandbox, make_user):
    call = talking_call(voice, sandbox)
    call_end(call=call, user=make_user("olivia"))
    call_sync(call_id=call.pk)
    call.refresh_from_db()
    assert call.state == CallState.ENDED
    assert "olivia ended the call" in " ".join(call.events.values_list("message", flat=True))


def test_it_shows_the_vendors_conflict_message_for_a_call_no_longer_active(voice, sandbox):
    call = talking_call(voice, sandbox)
    call_end(call=call, user=None)
    # Our copy still says running (no webhook yet): the vendor answers 409.
    with pytest.raises(LiveActionFailed, match="not currently active"):
        call_end(call=call, user=None)


def test_it_transfers_when_an_agent_is_free(voice, sandbox):
    call = talking_call(voice, sandbox)
    message = call_transfer(call=call, user=None)
    assert "transferred the call" in message
    call_sync(call_id=call.pk)
    call.refresh_from_db()
    assert call.vendor_outcome == "transferred"


def test_it_offers_the_handoff_when_nobody_is_free(voice, sandbox, client_as):
    sandbox.post("config", {"vendor": "voice_platform", "agent_queues": {"default": 0}})
    try:
        call = talking_call(voice, sandbox)
        with pytest.raises(LiveActionFailed) as caught:
            call_transfer(call=call, user=None)
        assert caught.value.no_agents
        response = client_as("operator").post(reverse("calls:transfer", kwargs={"pk": call.pk}))
        assert response["Location"].endswith("?handoff=offer")
        page = client_as("operator").get(response["Location"]).content.decode()
        assert "Request a callback" in page
        call_request_handoff(call=call, user=None, note="wants pricing")
        call.refresh_from_db()
        assert call.metadata["handoff"]["note"] == "wants pricing"
    finally:
        sandbox.post("config", {"vendor": "voice_platform", "agent_queues": {"default": 3}})


def test_it_refuses_live_actions_on_a_call_that_is_not_running(voice):
    call, _ = call_create(
        vendor_account=voice,
        agent=Agent.objects.filter(vendor_account=voice).first(),
        to_number="+14155550178",
    )
    with pytest.raises(LiveActionFailed, match="not running"):
        call_end(call=call, user=None)


def test_it_lets_only_callers_act_on_live_calls(client_as, voice):
    call, _ = call_create(
        vendor_account=voice,
        agent=Agent.objects.filter(vendor_account=voice).first(),
        to_number="+14155550179",
    )
    manager = client_as("manager")
    assert manager.post(reverse("calls:transfer", kwargs={"pk": call.pk})).status_code == 403
    assert manager.get(reverse("calls:end", kwargs={"pk": call.pk})).status_code == 403
    confirm = client_as("operator").get(reverse("calls:end", kwargs={"pk": call.pk}))
    assert b"This cannot be undone" in confirm.content
