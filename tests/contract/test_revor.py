"""The Revor client against the sandbox over real HTTP."""

from __future__ import annotations

import time

import pytest

from tests.contract.conftest import FAST_RETRY, assert_backoff_gaps
from vendors.errors import VendorAuthError, VendorConflict, VendorNotFound, VendorValidationError
from vendors.revor.client import RevorClient
from vendors.services import check_connection, vendor_client_for

EMAIL = {"subject": "Thanks for your time", "text": "As promised, the details."}


@pytest.fixture
def client(make_account):
    client = vendor_client_for(make_account("revor"), retry=FAST_RETRY)
    assert isinstance(client, RevorClient)
    yield client
    client.close()


@pytest.fixture
def email_account_id(client):
    return client.list_accounts(channel="email", can_send=True)[0].account_id


def test_it_dispatches_an_email_and_polls_the_job_to_its_end(client, email_account_id, sandbox):
    sandbox.post("script", {"vendor": "revor", "outcomes": [{"status": "succeeded"}]})
    job = client.dispatch(
        account_id=email_account_id,
        channel="email",
        recipient={"address": "ada@example.com"},
        content=EMAIL,
        metadata={"call": "42"},
    )

    deadline = time.monotonic() + 10
    while (current := client.get_job(job.id)).status not in {"succeeded", "failed"}:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    assert job.status == "queued"
    assert current.status == "succeeded"
    assert current.result is not None and current.result.resolved_action == "email_sent"


def test_it_likes_a_linkedin_post(client):
    linkedin = client.list_accounts(channel="linkedin", can_send=True)[0]

    job = client.like_post(
        account_id=linkedin.account_id, profile_url="https://www.linkedin.com/in/ada-lovelace"
    )

    assert job.id.startswith("job_")


def test_it_raises_typed_errors_with_code_and_request_id(make_account, client, email_account_id):
    with (
        vendor_client_for(make_account("revor", api_key="sk-revor-wrong")) as bad_client,
        pytest.raises(VendorAuthError) as auth,
    ):
        bad_client.list_accounts()
    with pytest.raises(VendorValidationError) as invalid:
        client.dispatch(
            account_id=email_account_id,
            channel="email",
            recipient={"address": "not-an-email"},
            content=EMAIL,
        )
    with pytest.raises(VendorNotFound):
        client.get_job("job_missing")

    assert auth.value.code == "api_key_invalid"
    assert auth.value.request_id.startswith("req_")
    assert (invalid.value.code, invalid.value.message) == (
        "invalid_request",
        "recipient.address must be an email address",
    )


def test_it_never_answers_an_idempotency_conflict_with_a_new_key(client, email_account_id, sandbox):
    recipient = {"address": "ada@example.com"}
    client.dispatch(
        account_id=email_account_id,
        channel="email",
        recipient=recipient,
        content=EMAIL,
        idempotency_key="follow-up-42",
    )

    with pytest.raises(VendorConflict) as caught:
        client.dispatch(
            account_id=email_account_id,
            channel="email",
            recipient=recipient,
            content={**EMAIL, "text": "Different text"},
            idempotency_key="follow-up-42",
        )

    assert caught.value.is_idempotency_conflict and caught.value.permanent
    posts = sandbox.log("revor", method="POST")
    assert [entry["idempotency_key"] for entry in posts] == ["follow-up-42", "follow-up-42"]
    assert len(sandbox.state("revor")["jobs"]) == 1


def test_it_waits_out_a_429(client, sandbox):
    sandbox.set_rate_limit("revor", 60, 1)
    # Retry-After is the later of the key's and the account's windows: shorten both.
    sandbox.set_rate_limit("revor", 120, 1, group="account")
    sandbox.faults("revor", burst_429=1)

    accounts = client.list_accounts()

    assert len(accounts) == 4
    assert [entry["status"] for entry in sandbox.log("revor")] == [429, 200]


def test_it_retries_a_lost_response_with_the_same_key(client, email_account_id, sandbox):
    sandbox.faults("revor", drop_after_create=1)

    job = client.dispatch(
        account_id=email_account_id, channel="email", recipient={"address": "a@b.co"}, content=EMAIL
    )

    posts = sandbox.log("revor", method="POST")
    assert [entry["dropped"] for entry in posts] == [True, False]
    assert len({entry["idempotency_key"] for entry in posts}) == 1
    assert sandbox.state("revor")["jobs"] == [job.id]


def test_it_retries_503s_with_backoff_and_the_same_key(client, email_account_id, sandbox):
    sandbox.faults("revor", fail_next=[503, 503])

    job = client.dispatch(
        account_id=email_account_id, channel="email", recipient={"address": "a@b.co"}, content=EMAIL
    )

    posts = sandbox.log("revor", method="POST")
    assert [entry["status"] for entry in posts] == [503, 503, 202]
    assert len({entry["idempotency_key"] for entry in posts}) == 1
    assert_backoff_gaps(posts)
    assert sandbox.state("revor")["jobs"] == [job.id]


def test_it_checks_the_connection(make_account):
    assert check_connection(make_account("revor")).ok
    bad = check_connection(make_account("revor", api_key="sk-revor-nope"))
    assert (bad.ok, bad.message) == (False, "api_key_invalid")
