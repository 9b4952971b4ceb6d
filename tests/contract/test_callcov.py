"""The CallCov client against the sandbox over real HTTP."""

from __future__ import annotations

import time

import pytest

from tests.contract.conftest import FAST_RETRY, assert_backoff_gaps
from vendors.callcov.client import CallCovClient
from vendors.callcov.webhooks import parse_webhook
from vendors.errors import FieldError, VendorAuthError, VendorNotFound, VendorValidationError
from vendors.pagination import walk_offset
from vendors.services import check_connection, vendor_client_for


@pytest.fixture
def client(make_account):
    client = vendor_client_for(make_account("callcov"), retry=FAST_RETRY)
    assert isinstance(client, CallCovClient)
    yield client
    client.close()


@pytest.fixture
def audio_url(sandbox, make_account):
    """A real recording the sandbox can fetch: a finished Revrag call's WAV."""
    sandbox.post(
        "script", {"vendor": "revrag", "outcomes": [{"reason": "USER_HANGUP", "duration": 20}]}
    )
    with vendor_client_for(make_account("revrag")) as revrag:
        call_id = revrag.start_call(
            agent_id=revrag.list_agents()[0].id, to_phone_number="+14155550123"
        ).call_id
        deadline = time.monotonic() + 10
        while (status := revrag.get_call_status(call_id)).recording_url is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return status.recording_url


def _wait_until_done(client, analysis_id, timeout=10.0):
    deadline = time.monotonic() + timeout
    while (analysis := client.get_analysis(analysis_id)).status == "processing":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return analysis


def test_it_submits_a_recording_and_reads_the_analysis(client, audio_url):
    submitted = client.submit_analysis(
        audio_url=audio_url, agent_id="agent-1", metadata={"campaign_id": "summer"}
    )

    done = _wait_until_done(client, submitted.id)

    assert submitted.status == "processing"
    assert done.status == "completed"
    assert done.metadata == {"campaign_id": "summer"}
    assert done.audio.format == "wav" and done.audio.duration_seconds == pytest.approx(20, abs=1)
    assert set(done.results or {}) >= {"compliance", "quality", "coaching", "summary"}
    assert client.get_usage().analyses == 1


def test_it_raises_a_validation_error_with_field_details(client, sandbox):
    with pytest.raises(VendorValidationError) as caught:
        client.submit_analysis(audio_url="not a url")

    assert caught.value.status == 422
    assert caught.value.field_errors == (
        FieldError(field="audio_url", message="Input should be a valid URL", type="url_parsing"),
    )
    assert len(sandbox.log("callcov", method="POST")) == 1


def test_it_raises_typed_auth_and_not_found_errors(make_account, client):
    with (
        vendor_client_for(make_account("callcov", api_key="sk_test_wrong")) as bad_client,
        pytest.raises(VendorAuthError) as auth,
    ):
        bad_client.list_analyses()
    with pytest.raises(VendorNotFound) as missing:
        client.get_analysis("nope")

    assert auth.value.message == "Invalid API key"
    assert "sk_test_wrong" not in str(auth.value)
    assert missing.value.message == "Analysis not found"


def test_it_waits_out_a_429_on_the_submission_group(client, sandbox, audio_url):
    sandbox.set_rate_limit("callcov", 20, 1, group="POST /analysis/")
    sandbox.faults("callcov", burst_429=1)

    client.submit_analysis(audio_url=audio_url)

    posts = sandbox.log("callcov", method="POST")
    assert [entry["status"] for entry in posts] == [429, 201]
    assert len(sandbox.state("callcov")["analyses"]) == 1


def test_it_retries_a_lost_response_with_the_same_key(client, sandbox, audio_url):
    sandbox.faults("callcov", drop_after_create=1)

    submitted = client.submit_analysis(audio_url=audio_url)

    posts = sandbox.log("callcov", method="POST")
    assert [entry["dropped"] for entry in posts] == [True, False]
    assert len({entry["idempotency_key"] for entry in posts}) == 1
    assert sandbox.state("callcov")["analyses"] == [submitted.id]


def test_it_retries_503s_with_backoff_and_the_same_key(client, sandbox, audio_url):
    sandbox.faults("callcov", fail_next=[503, 503])

    submitted = client.submit_analysis(audio_url=audio_url)

    posts = sandbox.log("callcov", method="POST")
    assert [entry["status"] for entry in posts] == [503, 503, 201]
    assert len({entry["idempotency_key"] for entry in posts}) == 1
    assert_backoff_gaps(posts)
    assert sandbox.state("callcov")["analyses"] == [submitted.id]


def test_it_walks_every_analysis_exactly_once(client, audio_url, sandbox):
    submitted = {client.submit_analysis(audio_url=audio_url).id for _ in range(5)}

    seen = [
        analysis.id
        for page in walk_offset(
            lambda skip, size: client.list_analyses(skip=skip, limit=size), page_size=2
        )
        for analysis in page.items
    ]
    everything = [analysis.id for page in client.iter_analysis_pages() for analysis in page.items]

    assert sorted(seen) == sorted(submitted)
    assert sorted(everything) == sorted(submitted)


def test_it_parses_the_sandboxs_real_webhook(client, audio_url, webhook_receiver):
    submitted = client.submit_analysis(audio_url=audio_url, webhook_url=webhook_receiver.url)

    headers, body = webhook_receiver.next()
    events = parse_webhook(headers, body, [])

    assert events[0].payload.id == submitted.id
    assert events[0].type == "analysis.completed"
    assert events[0].id == f"callcov:{submitted.id}:completed"


def test_it_checks_the_connection(make_account):
    assert check_connection(make_account("callcov")).ok
    bad = check_connection(make_account("callcov", api_key="sk_test_nope"))
    assert (bad.ok, bad.message) == (False, "Invalid API key")
