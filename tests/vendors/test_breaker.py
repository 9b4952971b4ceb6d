"""The circuit breaker per vendor account, against the sandbox over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from tests.sandbox import REPO_ROOT
from vendors.breaker import (
    VendorCircuitOpen,
    allows_call,
    breaker_reset,
    is_failure,
    open_breakers,
    state_of,
)
from vendors.errors import VendorRateLimited, VendorTransportError, VendorUnavailable
from vendors.http import RetryPolicy
from vendors.models import BreakerState, BreakerTransition, CircuitBreaker, VendorAccount
from vendors.services import vendor_client_for

ONE_ATTEMPT = RetryPolicy(max_attempts=1)
AGENTS = "/v1/campaigns/agents"


def _get_agents(account: VendorAccount) -> None:
    with vendor_client_for(account, retry=ONE_ATTEMPT) as client:
        client.http.request("GET", AGENTS)


def _end_cooldown(account: VendorAccount) -> None:
    """The cool-down's end moved into the past, as if it had been waited out."""
    CircuitBreaker.objects.filter(account=account).update(
        open_until=timezone.now() - timedelta(seconds=1)
    )


def _sandbox_account(sandbox, kind: str) -> VendorAccount:
    account = VendorAccount(
        kind=kind, name=f"Sandbox {kind}", base_url=sandbox.vendors[kind].base_url
    )
    account.set_api_key(sandbox.vendors[kind].api_key)
    account.save()
    return account


def _transitions(account: VendorAccount) -> list[tuple[str, str]]:
    rows = BreakerTransition.objects.filter(account=account).order_by("at", "id")
    return [(row.state_from, row.state_to) for row in rows]


def test_it_opens_after_the_threshold_of_5xx_and_then_sends_nothing(make_account, sandbox):
    account = make_account("revrag")
    sandbox.faults("revrag", error_rate=1.0, error_status=500)
    for _ in range(4):
        with pytest.raises(VendorUnavailable):
            _get_agents(account)
        assert state_of(account.pk).state == BreakerState.CLOSED
    with pytest.raises(VendorUnavailable) as fifth:
        _get_agents(account)
    assert not isinstance(fifth.value, VendorCircuitOpen)
    assert state_of(account.pk).state == BreakerState.OPEN
    assert not allows_call(account.pk)

    with pytest.raises(VendorCircuitOpen) as refused:
        _get_agents(account)
    assert "circuit breaker" in refused.value.message
    assert refused.value.retry_at is not None and refused.value.retry_at > timezone.now()
    assert len(sandbox.log("revrag")) == 5
    assert _transitions(account) == [(BreakerState.CLOSED, BreakerState.OPEN)]
    event = AuditEvent.objects.get(action=AuditAction.VENDOR_BREAKER_CHANGED)
    assert event.detail["to"] == BreakerState.OPEN


def test_it_starts_counting_again_after_a_success(make_account, sandbox):
    account = make_account("revrag", rate_limits={})
    account.breaker_failure_threshold = 3
    account.save()
    sandbox.faults("revrag", fail_next=[500, 500])
    for _ in range(2):
        with pytest.raises(VendorUnavailable):
            _get_agents(account)
    _get_agents(account)
    assert state_of(account.pk).consecutive_failures == 0
    sandbox.faults("revrag", fail_next=[500, 500])
    for _ in range(2):
        with pytest.raises(VendorUnavailable):
            _get_agents(account)
    assert state_of(account.pk).state == BreakerState.CLOSED


def test_it_opens_at_once_on_a_vendor_503(make_account, sandbox):
    account = make_account("revrag")
    sandbox.faults("revrag", fail_next=[503])
    with pytest.raises(VendorUnavailable):
        _get_agents(account)
    assert state_of(account.pk).state == BreakerState.OPEN
    with pytest.raises(VendorCircuitOpen):
        _get_agents(account)
    assert len(sandbox.log("revrag")) == 1


def test_it_counts_connection_refused_and_timeouts(make_account, sandbox, db):
    account = make_account("revrag")
    account.breaker_failure_threshold = 2
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    account.base_url = f"http://127.0.0.1:{port}"
    account.save()
    for _ in range(2):
        with pytest.raises(VendorTransportError):
            _get_agents(account)
    status = state_of(account.pk)
    assert status.state == BreakerState.OPEN
    assert "connection failed" in status.last_failure


def test_it_lets_one_probe_through_after_the_cooldown_and_closes_on_success(make_account, sandbox):
    account = make_account("revrag")
    sandbox.faults("revrag", fail_next=[503])
    with pytest.raises(VendorUnavailable):
        _get_agents(account)
    _end_cooldown(account)
    assert allows_call(account.pk)

    _get_agents(account)
    assert state_of(account.pk).state == BreakerState.CLOSED
    assert _transitions(account) == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert AuditEvent.objects.filter(action=AuditAction.VENDOR_BREAKER_CHANGED).count() == 3


def test_it_opens_again_for_a_whole_cooldown_when_the_probe_fails(make_account, sandbox):
    account = make_account("revrag")
    account.breaker_cooldown_seconds = 120
    account.save()
    sandbox.faults("revrag", fail_next=[503, 500])
    with pytest.raises(VendorUnavailable):
        _get_agents(account)
    _end_cooldown(account)
    with pytest.raises(VendorUnavailable) as probe:
        _get_agents(account)
    assert probe.value.status == 500
    status = state_of(account.pk)
    assert status.state == BreakerState.OPEN
    assert status.open_until > timezone.now() + timedelta(seconds=110)
    assert _transitions(account)[-1] == (BreakerState.HALF_OPEN, BreakerState.OPEN)
    with pytest.raises(VendorCircuitOpen):
        _get_agents(account)
    assert len(sandbox.log("revrag")) == 2


def test_it_refuses_others_while_the_probe_is_out(make_account, sandbox):
    account = make_account("revrag")
    sandbox.faults("revrag", fail_next=[503])
    with pytest.raises(VendorUnavailable):
        _get_agents(account)
    _end_cooldown(account)
    # The probe took the half-open breaker and has not answered yet.
    with vendor_client_for(account, retry=ONE_ATTEMPT) as client:
        assert client.http.breaker.before_request() is True
        with pytest.raises(VendorCircuitOpen) as refused:
            _get_agents(account)
        assert "probe" in refused.value.message
        assert not allows_call(account.pk)


def test_it_sends_exactly_one_probe_when_processes_race(transactional_db, sandbox):
    account = _sandbox_account(sandbox, "revrag")
    CircuitBreaker.objects.create(
        account=account,
        state=BreakerState.OPEN,
        opened_at=timezone.now() - timedelta(minutes=2),
        open_until=timezone.now() - timedelta(seconds=1),
    )
    # The probe's answer takes a while, so every other process asks while it is out.
    sandbox.faults("revrag", latency_ms=800)
    environment = {**os.environ, "CALLOPS_TEST_DB_NAME": str(connection.settings_dict["NAME"])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.vendors.breaker_worker", str(account.pk)],
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.3
    for worker in workers:
        worker.stdin.write(f"{start_at}\n")
        worker.stdin.flush()
    results = sorted(json.loads(worker.communicate(timeout=60)[0])["result"] for worker in workers)

    assert results == ["ok", "refused", "refused", "refused"]
    assert len(sandbox.log("revrag")) == 1
    assert state_of(account.pk).state == BreakerState.CLOSED
    assert _transitions(account) == [
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_it_does_not_count_a_429_storm_and_other_vendors_keep_working(transactional_db, sandbox):
    # A thread uses its own database connection: the test's data must be committed.
    revrag = _sandbox_account(sandbox, "revrag")
    voice = _sandbox_account(sandbox, "voice_platform")
    sandbox.faults("revrag", burst_429=30)

    voice_results: list[str] = []

    def use_the_voice_platform() -> None:
        try:
            for _ in range(10):
                with vendor_client_for(voice, retry=ONE_ATTEMPT) as client:
                    client.list_agents()
                voice_results.append("ok")
        finally:
            connection.close()

    other = threading.Thread(target=use_the_voice_platform)
    other.start()
    limited = 0
    for _ in range(30):
        # Without the rate budget, so that every request of the storm reaches the vendor.
        with vendor_client_for(revrag, retry=ONE_ATTEMPT) as client:
            client.http.budget = None
            try:
                client.http.request("GET", AGENTS)
            except VendorRateLimited:
                limited += 1
    other.join(timeout=60)

    assert limited == 30
    assert state_of(revrag.pk).state == BreakerState.CLOSED
    assert state_of(revrag.pk).consecutive_failures == 0
    assert voice_results == ["ok"] * 10
    assert open_breakers() == []


def test_it_counts_5xx_and_silence_but_not_the_voice_platforms_no_agents_503():
    assert is_failure("revrag", None)
    assert is_failure("revrag", 502)
    assert is_failure("voice_platform", 503, "Service down")
    assert not is_failure("voice_platform", 503, "No agents available in target queue")
    assert not is_failure("revrag", 404)
    assert not is_failure("revrag", 429)


def test_an_admin_can_close_it_by_hand(make_account, sandbox, make_user):
    account = make_account("revrag")
    sandbox.faults("revrag", fail_next=[503])
    with pytest.raises(VendorUnavailable):
        _get_agents(account)
    assert [status.account_id for status in open_breakers()] == [account.pk]
    admin = make_user("ada")
    assert breaker_reset(account.pk, user=admin) is True
    assert breaker_reset(account.pk, user=admin) is False
    assert state_of(account.pk).state == BreakerState.CLOSED
    _get_agents(account)
    event = AuditEvent.objects.filter(action=AuditAction.VENDOR_BREAKER_CHANGED).first()
    assert event.actor == admin
