"""Whether a failed request may have reached the vendor, as the HTTP core tells it on every
error (VendorError.maybe_delivered), over real HTTP against the sandbox and a closed port.

Campaign failover moves a call to another vendor only when no attempt can have reached the
first one (calls/reroute.py), so a wrong False here would dial a contact twice."""

from __future__ import annotations

import socket

import pytest

from calls.models import Agent
from calls.services import agents_sync
from vendors.breaker import VendorCircuitOpen
from vendors.errors import VendorError, VendorTransportError, VendorUnavailable
from vendors.http import RetryPolicy
from vendors.services import vendor_client_for

pytestmark = pytest.mark.django_db

ONE_ATTEMPT = RetryPolicy(max_attempts=1)
FEW_QUICK_ATTEMPTS = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)


def _start_call(account, retry: RetryPolicy = ONE_ATTEMPT) -> VendorError:
    agent = Agent.objects.filter(vendor_account=account).first()
    with vendor_client_for(account, retry=retry) as client, pytest.raises(VendorError) as failed:
        client.start_call(
            agent_id=agent.vendor_agent_id if agent else "agent",
            to_phone_number="+14155550100",
            idempotency_key="delivery-test",
        )
    return failed.value


def test_it_says_a_refused_connection_never_reached_the_vendor(make_account, sandbox):
    account = make_account("revrag")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    account.base_url = f"http://127.0.0.1:{port}"
    account.save()

    error = _start_call(account, FEW_QUICK_ATTEMPTS)

    assert isinstance(error, VendorTransportError)
    assert error.maybe_delivered is False


def test_it_says_an_error_answer_was_not_done(make_account, sandbox):
    account = make_account("revrag")
    sandbox.faults("revrag", fail_next=[500, 502, 503])

    error = _start_call(account, FEW_QUICK_ATTEMPTS)

    assert isinstance(error, VendorUnavailable) and error.status == 503
    assert error.maybe_delivered is False
    assert len(sandbox.state("revrag")["calls"]) == 0


def test_it_says_a_connection_dropped_after_the_vendor_created_the_call_may_have_reached_it(
    make_account, sandbox
):
    account = make_account("revrag")
    agents_sync(account=account)
    sandbox.faults("revrag", drop_after_create=1)

    error = _start_call(account)

    assert isinstance(error, VendorTransportError)
    assert error.maybe_delivered is True
    assert len(sandbox.state("revrag")["calls"]) == 1  # it did: the vendor is placing it


def test_it_says_a_gateway_timeout_may_have_reached_the_vendor(make_account, sandbox):
    account = make_account("revrag")
    sandbox.faults("revrag", fail_next=[504])

    error = _start_call(account)

    assert error.status == 504 and error.maybe_delivered is True


def test_it_remembers_an_earlier_attempt_that_may_have_reached_the_vendor(make_account, sandbox):
    account = make_account("revrag")
    agents_sync(account=account)
    # The first attempt is dropped after the request was read; the retries get 503s.
    sandbox.faults("revrag", drop_before_response=1, fail_next=[503, 503])

    error = _start_call(account, FEW_QUICK_ATTEMPTS)

    assert isinstance(error, VendorUnavailable) and error.status == 503
    assert error.maybe_delivered is True


def test_it_says_an_open_circuit_sent_nothing(make_account, sandbox):
    account = make_account("revrag")
    sandbox.faults("revrag", fail_next=[503])
    _start_call(account)  # a 503 opens the breaker at once

    error = _start_call(account)

    assert isinstance(error, VendorCircuitOpen)
    assert error.maybe_delivered is False
    assert len(sandbox.log("revrag", method="POST")) == 1
