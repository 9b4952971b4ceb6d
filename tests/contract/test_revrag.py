"""The Revrag client against the sandbox over real HTTP."""

from __future__ import annotations

import time

import pytest

from tests.contract.conftest import FAST_RETRY, assert_backoff_gaps
from vendors.errors import (
    VendorAuthError,
    VendorNotFound,
    VendorUnavailable,
    VendorValidationError,
)
from vendors.revrag.client import RevragClient
from vendors.revrag.webhooks import parse_webhook
from vendors.services import check_connection, vendor_client_for

PHONE = "+14155550123"


@pytest.fixture
def account(make_account):
    return make_account("revrag")


@pytest.fixture
def client(account):
    client = vendor_client_for(account, retry=FAST_RETRY)
    assert isinstance(client, RevragClient)
    yield client
    client.close()


def test_it_lists_agents_with_their_variables(client):
    agents = client.list_agents()

    assert len(agents) == 3
    collections = next(agent for agent in agents if agent.name == "Collections reminder")
    assert [variable.name for variable in collections.variables] == [
        "customer_name",
        "due_amount",
        "due_date",
    ]


def test_it_starts_a_call_and_reads_its_status_verbatim(client, sandbox):
    agent = client.list_agents()[0]

    started = client.start_call(
        agent_id=agent.id,
        to_phone_number=PHONE,
        variable_fields={"customer_name": "Ada"},
        custom_metadata={"callops_call": "42"},
    )
    status = client.get_call_status(started.call_id)

    assert started.agent_id == agent.id
    assert status.call_id == started.call_id
    assert status.call_status in {"QUEUED", "RUNNING", "ENDED"}
    assert status.variables_fields == {"customer_name": "Ada"}
    assert status.custom_metadata == {"callops_call": "42"}
    assert sandbox.state("revrag")["calls"] == [started.call_id]


def test_it_raises_a_typed_auth_error_with_the_vendors_message(make_account):
    account = make_account("revrag", api_key="not-the-key")

    with vendor_client_for(account) as client, pytest.raises(VendorAuthError) as caught:
        client.list_agents()

    assert caught.value.status == 401
    assert caught.value.message == "Invalid API key"
    assert caught.value.permanent
    assert "not-the-key" not in str(caught.value) + repr(caught.value)


def test_it_reports_unknown_calls_as_not_found(client):
    with pytest.raises(VendorNotFound) as caught:
        client.get_call_status("00000000-0000-4000-8000-000000000000")

    assert caught.value.message == "Call not found"


def test_it_raises_a_validation_error_for_a_bad_phone_number(client, sandbox):
    agent = client.list_agents()[0]

    with pytest.raises(VendorValidationError) as caught:
        client.start_call(agent_id=agent.id, to_phone_number="0415 555 0123")

    assert caught.value.status == 422
    assert "E.164" in caught.value.message
    posts = sandbox.log("revrag", method="POST")
    assert len(posts) == 1, "a 422 is never retried"


def test_it_waits_out_a_429_and_succeeds(client, sandbox):
    sandbox.set_rate_limit("revrag", limit=100, window_seconds=1)
    sandbox.faults("revrag", burst_429=2)

    agents = client.list_agents()

    assert len(agents) == 3
    statuses = [entry["status"] for entry in sandbox.log("revrag")]
    assert statuses == [429, 429, 200]


def test_it_retries_a_lost_response_with_the_same_key_and_places_one_call(client, sandbox):
    agent = client.list_agents()[0]
    sandbox.faults("revrag", drop_after_create=1)

    started = client.start_call(agent_id=agent.id, to_phone_number=PHONE)

    assert sandbox.state("revrag")["calls"] == [started.call_id]
    posts = sandbox.log("revrag", method="POST")
    assert len(posts) == 2
    assert posts[0]["dropped"]
    assert len({entry["idempotency_key"] for entry in posts}) == 1


def test_it_retries_503s_with_backoff_and_the_same_key(client, sandbox):
    agent = client.list_agents()[0]
    sandbox.faults("revrag", fail_next=[503, 503])

    started = client.start_call(agent_id=agent.id, to_phone_number=PHONE)

    assert sandbox.state("revrag")["calls"] == [started.call_id]
    posts = sandbox.log("revrag", method="POST")
    assert [entry["status"] for entry in posts] == [503, 503, 200]
    assert len({entry["idempotency_key"] for entry in posts}) == 1
    assert_backoff_gaps(posts)


def test_it_never_retries_a_post_without_an_idempotency_key(client, sandbox):
    sandbox.faults("revrag", fail_next=[503])

    with pytest.raises(VendorUnavailable) as caught:
        client.http.request("POST", "/v1/campaigns/trigger/single", json_body={})

    assert not caught.value.permanent
    assert [entry["status"] for entry in sandbox.log("revrag", method="POST")] == [503]


def test_it_verifies_the_sandboxs_real_call_ended_webhook(client, sandbox, webhook_receiver):
    secret = "whsec_contract_revrag"
    sandbox.post(
        "config",
        {"vendor": "revrag", "webhook_url": webhook_receiver.url, "webhook_secret": secret},
    )
    sandbox.post(
        "script", {"vendor": "revrag", "outcomes": [{"reason": "USER_HANGUP", "duration": 20}]}
    )
    started = client.start_call(agent_id=client.list_agents()[0].id, to_phone_number=PHONE)

    headers, body = webhook_receiver.next()
    events = parse_webhook(headers, body, ["an-old-secret", secret])

    assert [event.type for event in events] == ["call.ended"]
    assert events[0].payload.call_id == started.call_id
    assert events[0].payload.call_status == "ENDED"
    assert events[0].payload.disconnection_reason == "USER_HANGUP"
    assert events[0].id == {name.lower(): value for name, value in headers.items()}["x-webhook-id"]


def test_it_checks_the_connection_and_records_the_result(account, make_account):
    good = check_connection(account)
    bad_account = make_account("revrag", api_key="wrong-key-1234")
    bad = check_connection(bad_account)

    assert good.ok
    assert (bad.ok, bad.message) == (False, "Invalid API key")
    bad_account.refresh_from_db()
    assert bad_account.last_check_ok is False
    assert bad_account.last_check_message == "Invalid API key"
    assert bad_account.last_check_at is not None
    assert time.time() - bad_account.last_check_at.timestamp() < 60
