"""The Revont client against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from tests.contract.conftest import FAST_RETRY, assert_backoff_gaps
from vendors.errors import VendorAuthError, VendorNotFound, VendorValidationError
from vendors.pagination import walk_cursor
from vendors.revont.client import RevontClient
from vendors.revont.webhooks import parse_webhook
from vendors.services import check_connection, vendor_client_for


@pytest.fixture
def client(make_account):
    client = vendor_client_for(make_account("revont"), retry=FAST_RETRY)
    assert isinstance(client, RevontClient)
    yield client
    client.close()


def test_it_accepts_the_base_url_with_or_without_calls(sandbox):
    base = sandbox.vendors["revont"].base_url
    key = sandbox.vendors["revont"].api_key

    with (
        RevontClient(base_url=base + "/calls", api_key=key) as documented,
        RevontClient(base_url=base, api_key=key) as public,
    ):
        assert documented.list_calls(limit=1).items == public.list_calls(limit=1).items


def test_it_walks_every_record_exactly_once_and_resumes_from_the_cursor(client, sandbox):
    known = set(sandbox.state("revont")["record_ids"])

    pages = list(
        walk_cursor(lambda cursor, size: client.list_calls(cursor=cursor, limit=size), page_size=7)
    )
    seen = [record.id for page in pages for record in page.items]
    stored_cursor = pages[-1].next_cursor
    newer = [
        record.id for page in client.iter_call_pages(cursor=stored_cursor) for record in page.items
    ]

    assert len(seen) == len(set(seen)), "no record twice"
    assert known <= set(seen), "every record once"
    assert len(pages) >= 7
    assert not set(newer) & set(seen), "a resumed walk starts after the stored cursor"


def test_it_filters_and_reads_one_record(client):
    page = client.list_calls(outcome="won", limit=100)
    record = client.get_call(page.items[0].id)

    assert {item.outcome for item in page.items} == {"won"}
    assert record.id == page.items[0].id
    assert record.rep_id and record.transcript


def test_it_raises_typed_errors_with_the_vendors_code(make_account, client):
    with (
        vendor_client_for(make_account("revont", api_key="bad")) as bad_client,
        pytest.raises(VendorAuthError) as auth,
    ):
        bad_client.list_calls()
    with pytest.raises(VendorValidationError) as invalid:
        client.list_calls(outcome="maybe")
    with pytest.raises(VendorNotFound) as missing:
        client.get_call("nope")

    assert (auth.value.code, auth.value.message) == ("unauthorized", "Missing or invalid API key")
    assert invalid.value.code == "invalid_request"
    assert "outcome must be one of" in invalid.value.message
    assert missing.value.code == "not_found"


def test_it_waits_until_the_reset_after_a_429(client, sandbox):
    sandbox.set_rate_limit("revont", 100, 1)
    sandbox.faults("revont", burst_429=1)

    page = client.list_calls(limit=5)

    assert len(page.items) == 5
    entries = sandbox.log("revont")
    assert [entry["status"] for entry in entries] == [429, 200]


def test_it_retries_a_dropped_read_and_503s_with_backoff(client, sandbox):
    sandbox.faults("revont", drop_before_response=1)
    client.list_calls(limit=1)
    sandbox.faults("revont", fail_next=[503, 503])
    client.list_calls(limit=1)

    entries = sandbox.log("revont")
    assert [entry["status"] for entry in entries] == [None, 200, 503, 503, 200]
    assert_backoff_gaps(entries[2:])


def test_it_verifies_the_sandboxs_real_webhooks(sandbox, webhook_receiver):
    secret = "whsec_contract_revont"
    sandbox.post(
        "config",
        {"vendor": "revont", "webhook_url": webhook_receiver.url, "webhook_secret": secret},
    )

    headers, body = webhook_receiver.next()
    events = parse_webhook(headers, body, [secret, "older-secret"])

    assert events[0].type in {
        "call.started",
        "call.ended",
        "summary.ready",
        "action_item.created",
        "action_item.completed",
    }
    assert events[0].payload.call_id


def test_it_checks_the_connection(make_account):
    assert check_connection(make_account("revont")).ok
    bad = check_connection(make_account("revont", api_key="nope"))
    assert (bad.ok, bad.message) == (False, "Missing or invalid API key")
