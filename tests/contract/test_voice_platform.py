"""The voice platform client against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from tests.contract.conftest import FAST_RETRY, assert_backoff_gaps
from vendors.errors import (
    VendorAuthError,
    VendorConflict,
    VendorPermissionError,
    VendorUnavailable,
    VendorValidationError,
)
from vendors.pagination import walk_offset
from vendors.services import check_connection, vendor_client_for
from vendors.voice_platform.client import VoicePlatformClient
from vendors.voice_platform.webhooks import parse_webhook

PHONE = "+14155550123"


@pytest.fixture
def client(make_account):
    client = vendor_client_for(make_account("voice_platform"), retry=FAST_RETRY)
    assert isinstance(client, VoicePlatformClient)
    yield client
    client.close()


@pytest.fixture
def agent_id(client):
    return client.list_agents()[0].id


def test_it_starts_gets_and_lists_calls(client, agent_id, sandbox):
    call = client.start_call(
        agent_id=agent_id, phone=PHONE, variables={"customer_name": "Ada"}, metadata={"k": "v"}
    )

    fetched = client.get_call(call.id)
    page = client.list_calls()

    assert fetched.id == call.id
    assert fetched.status in {"queued", "ringing", "in_progress", "ended"}
    assert fetched.variables == {"customer_name": "Ada"}
    assert [item.id for item in page.items] == [call.id]
    assert page.total == 1
    assert sandbox.state("voice_platform")["calls"] == [call.id]


def test_it_runs_a_native_campaign(client, agent_id, sandbox):
    campaign = client.create_campaign(name="Renewals", agent_id=agent_id)
    pushed = client.upsert_contacts(
        [{"phone": "+14155550001", "name": "Ada"}, {"phone": "not-a-phone"}],
        campaign_id=campaign.id,
    )

    launched = client.launch_campaign(campaign.id)
    stopped = client.stop_campaign(campaign.id)

    assert (pushed.created, len(pushed.items), len(pushed.errors)) == (1, 1, 1)
    assert pushed.errors[0].index == 1
    assert (campaign.status, launched.status, stopped.status) == ("draft", "running", "stopped")
    assert client.get_campaign(campaign.id).stats.contacts == 1
    with pytest.raises(VendorConflict) as caught:
        client.stop_campaign(campaign.id)
    assert caught.value.message == "Campaign is not running"


def test_it_controls_a_live_call(client, agent_id, sandbox):
    sandbox.post(
        "script",
        {"vendor": "voice_platform", "outcomes": [{"reason": "USER_HANGUP", "duration": 600}]},
    )
    call = client.start_call(agent_id=agent_id, phone=PHONE)

    availability = client.agent_availability("default")
    written = client.write_call_metadata(call.id, {"intent": "renew"})

    assert availability.available and availability.available_agents == 3
    assert written.metadata == {"intent": "renew"}
    sandbox.post("config", {"vendor": "voice_platform", "agent_queues": {"empty": 0}})
    _wait_for_status(client, call.id, "in_progress")
    with pytest.raises(VendorUnavailable) as caught:
        client.transfer_call(call.id, queue="empty")
    assert caught.value.message == "No agents available in target queue"
    transferred = client.transfer_call(call.id, queue="default")
    assert transferred.status == "transferred"
    with pytest.raises(VendorConflict):
        client.end_call(call.id)


def _wait_for_status(client, call_id, status, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while client.get_call(call_id).status != status:
        assert time.monotonic() < deadline, f"call never reached {status}"
        time.sleep(0.1)


def test_it_manages_agents_flows_speakers_and_imports(client, sandbox):
    flow = client.create_flow(name="Renewal flow", config={"steps": []})
    agent = client.create_agent(name="Renewal agent", flow_id=flow.id, voice="alloy")
    speaker = client.create_speaker(name="ada", language="en")
    sampled = client.upload_speaker_sample("ada", filename="a.wav", content=b"RIFF0000WAVE")
    deploying = client.deploy_speaker("ada")
    imported = client.import_customers([{"phone": "+14155550002"}, {"phone": "bad"}])

    assert flow.id in [item.id for item in client.list_flows()]
    assert agent.id in [item.id for item in client.list_agents()]
    assert (speaker.status, sampled.samples, deploying.status) == ("created", 1, "deploying")
    assert client.get_speaker("ada").name == "ada"
    assert [result.status for result in imported] == ["created", "error"]


def test_it_raises_typed_auth_and_scope_errors(make_account, sandbox):
    sandbox.post(
        "keys",
        {"vendor": "voice_platform", "key": "read-only-token", "scopes": ["voice:calls:read"]},
    )
    with (
        vendor_client_for(make_account("voice_platform", api_key="wrong")) as client,
        pytest.raises(VendorAuthError) as auth,
    ):
        client.list_calls()
    with (
        vendor_client_for(make_account("voice_platform", api_key="read-only-token")) as client,
        pytest.raises(VendorPermissionError) as scope,
    ):
        client.create_flow(name="x", config={})

    assert auth.value.message == "Invalid or expired token"
    assert scope.value.message == "Insufficient permissions. Required scopes: voice:agents:write"


def test_it_raises_a_validation_error_for_a_bad_phone(client, agent_id, sandbox):
    with pytest.raises(VendorValidationError) as caught:
        client.start_call(agent_id=agent_id, phone="12345")

    assert (caught.value.status, caught.value.message) == (400, "phone must be in E.164 format")
    assert len(sandbox.log("voice_platform", method="POST")) == 1


def test_it_waits_out_a_429_on_its_own_endpoint_group(client, agent_id, sandbox):
    sandbox.set_rate_limit("voice_platform", 30, 1, group="POST /v1/calls")
    sandbox.faults("voice_platform", burst_429=1)

    call = client.start_call(agent_id=agent_id, phone=PHONE)

    posts = sandbox.log("voice_platform", method="POST")
    assert [entry["status"] for entry in posts] == [429, 201]
    assert sandbox.state("voice_platform")["calls"] == [call.id]


def test_it_retries_a_lost_response_with_the_same_key(client, agent_id, sandbox):
    sandbox.faults("voice_platform", drop_after_create=1)

    call = client.start_call(agent_id=agent_id, phone=PHONE)

    posts = sandbox.log("voice_platform", method="POST")
    assert [entry["dropped"] for entry in posts] == [True, False]
    assert len({entry["idempotency_key"] for entry in posts}) == 1
    assert sandbox.state("voice_platform")["calls"] == [call.id]


def test_it_retries_503s_with_backoff_and_the_same_key(client, agent_id, sandbox):
    sandbox.faults("voice_platform", fail_next=[503, 503])

    call = client.start_call(agent_id=agent_id, phone=PHONE)

    posts = sandbox.log("voice_platform", method="POST")
    assert [entry["status"] for entry in posts] == [503, 503, 201]
    assert len({entry["idempotency_key"] for entry in posts}) == 1
    assert_backoff_gaps(posts)
    assert sandbox.state("voice_platform")["calls"] == [call.id]


def test_it_walks_every_call_exactly_once(client, agent_id, sandbox):
    placed = {client.start_call(agent_id=agent_id, phone=f"+1415555010{n}").id for n in range(7)}

    seen = [
        call.id
        for page in walk_offset(
            lambda offset, size: client.list_calls(offset=offset, limit=size), page_size=3
        )
        for call in page.items
    ]
    everything = [call.id for page in client.iter_call_pages() for call in page.items]

    assert sorted(seen) == sorted(placed)
    assert sorted(everything) == sorted(placed)
    pages = sandbox.log("voice_platform", method="GET", path_contains="/v1/calls")
    assert len(pages) == 3 + 1


def test_it_verifies_the_sandboxs_real_webhooks(client, agent_id, sandbox, webhook_receiver):
    hook = client.register_webhook(url=webhook_receiver.url, secret="whsec_contract_voice")
    sandbox.post(
        "script",
        {"vendor": "voice_platform", "outcomes": [{"reason": "USER_HANGUP", "duration": 30}]},
    )
    call = client.start_call(agent_id=agent_id, phone=PHONE)

    received = [webhook_receiver.next(), webhook_receiver.next()]
    events = [
        event
        for headers, body in received
        for event in parse_webhook(headers, body, ["old", hook.secret or ""])
    ]

    assert sorted(event.type for event in events) == ["call.ended", "call.started"]
    assert {event.payload.id for event in events} == {call.id}
    assert len({event.id for event in events}) == 2


def test_it_checks_the_connection(make_account):
    assert check_connection(make_account("voice_platform")).ok
    bad = check_connection(make_account("voice_platform", api_key="nope"))
    assert (bad.ok, bad.message) == (False, "Invalid or expired token")
