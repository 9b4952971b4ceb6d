"""SIGKILL a real Celery worker between the vendor's answer and the database update.

The sandbox holds its answer for a few seconds after creating the call, the test kills the
worker in that window, and a new worker picks the call up again (the sweeper re-dispatches
pending calls whose lease ran out). The vendor must hold exactly one call: the retry carries
the same idempotency key.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from kombu import Connection

from calls.models import Agent, Call, CallState
from calls.services import agents_sync
from tests.sandbox import REPO_ROOT
from tests.utils import child_process_env

LEASE_SECONDS = 2

pytestmark = pytest.mark.django_db(transaction=True)


class Workers:
    """Real `celery worker` processes on a file-system broker of the test's own."""

    def __init__(self, broker_dir: Path) -> None:
        self.env = child_process_env(
            CELERY_BROKER_URL="filesystem://",
            CALLOPS_VAR_DIR=str(broker_dir),
            SECRET_KEY=settings.SECRET_KEY,
            CALLOPS_ENCRYPTION_KEYS=",".join(settings.CALLOPS_ENCRYPTION_KEYS),
            CALLOPS_DISPATCH_LEASE_SECONDS=str(LEASE_SECONDS),
        )
        folder = broker_dir / "celery-broker"
        for sub in ("processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # Not the current app: the in-process (eager) app must stay current for later tests.
        self.producer = Celery(set_as_current=False)
        # An explicit connection: Celery's own broker setting would follow CELERY_BROKER_URL
        # from the environment (Redis in CI), which these workers do not listen to.
        self.connection = Connection(
            "filesystem://",
            transport_options={
                "data_folder_in": str(folder),
                "data_folder_out": str(folder),
                "processed_folder": str(folder / "processed"),
                "control_folder": str(folder / "control"),
            },
        )
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--pool", "prefork",
             "--concurrency", "1", "--loglevel", "WARNING", "--without-heartbeat",
             "--without-mingle", "--without-gossip"],
            cwd=REPO_ROOT,
            env=self.env,
            start_new_session=True,
        )  # fmt: skip
        self.running.append(worker)
        return worker

    def send(self, task: str, *args: object) -> None:
        self.producer.send_task(task, args=list(args), connection=self.connection)

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def stop_all(self) -> None:
        for worker in self.running:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)


# How long the sandbox holds requests in these tests (latency faults).
HELD_SECONDS = 6


@pytest.fixture
def workers(tmp_path):
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()
    # A killed worker's request may still be held at the sandbox; let it land now rather than
    # after the next test's sandbox reset, where it would count as that test's call.
    time.sleep(HELD_SECONDS + 0.5)


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def pending_call(account) -> Call:
    agent = Agent.objects.filter(vendor_account=account).first()
    # Written directly (not through call_create) so the test's in-process Celery, which runs
    # tasks eagerly, does not dispatch it: the real workers must.
    return Call.objects.create(vendor_account=account, agent=agent, to_number="+14155550142")


def kill_after_the_vendor_created_the_call(workers, sandbox, call, attempt: int) -> None:
    worker = workers.start()
    workers.send("calls.tasks.dispatch_call", call.pk)
    wait_until(
        lambda: Call.objects.get(pk=call.pk).dispatch_attempts == attempt,
        timeout=40,
        what=f"dispatch attempt {attempt}",
    )
    # The sandbox holds its answer for 6 s after creating the call: kill inside that window.
    wait_until(
        lambda: len(sandbox.state("revrag")["calls"]) == 1,
        timeout=5,
        what="the sandbox to create the call",
    )
    time.sleep(0.5)
    workers.kill(worker)
    call.refresh_from_db()
    assert call.state == CallState.PENDING
    assert call.vendor_call_id == ""


def test_it_places_one_call_when_a_worker_dies_before_recording_the_answer(
    make_account, sandbox, workers
):
    account = make_account("revrag")
    agents_sync(account=account)
    call = pending_call(account)
    sandbox.faults("revrag", latency_after_create_ms=HELD_SECONDS * 1000)
    kill_after_the_vendor_created_the_call(workers, sandbox, call, attempt=1)

    sandbox.faults("revrag", latency_after_create_ms=0)
    workers.start()
    time.sleep(LEASE_SECONDS + 0.5)
    workers.send("calls.tasks.redispatch_stuck_calls")
    wait_until(
        lambda: Call.objects.get(pk=call.pk).vendor_call_id != "",
        timeout=40,
        what="the new worker to record the call",
    )
    call.refresh_from_db()
    assert call.state in (CallState.QUEUED, CallState.RUNNING, CallState.ENDED)
    assert len(sandbox.state("revrag")["calls"]) == 1
    keys = {e["idempotency_key"] for e in sandbox.log("revrag", method="POST")}
    assert keys == {str(call.idempotency_key)}


def test_it_fails_a_call_whose_worker_was_killed_three_times(make_account, sandbox, workers):
    account = make_account("revrag")
    agents_sync(account=account)
    call = pending_call(account)
    # Each attempt hangs at the vendor and its worker is killed there.
    sandbox.faults("revrag", latency_ms=HELD_SECONDS * 1000)
    for attempt in (1, 2, 3):
        worker = workers.start()
        workers.send("calls.tasks.dispatch_call", call.pk)
        wait_until(
            lambda attempt=attempt: Call.objects.get(pk=call.pk).dispatch_attempts == attempt,
            timeout=40,
            what=f"dispatch attempt {attempt}",
        )
        time.sleep(0.5)
        workers.kill(worker)
        time.sleep(LEASE_SECONDS + 0.5)

    workers.start()
    workers.send("calls.tasks.dispatch_call", call.pk)
    wait_until(
        lambda: Call.objects.get(pk=call.pk).state == CallState.FAILED,
        timeout=40,
        what="the call to be given up",
    )
    call.refresh_from_db()
    assert "Gave up after 3 attempts" in call.error_message
    # The killed requests may still have reached the vendor; the shared key keeps it to one.
    assert len(sandbox.state("revrag")["calls"]) <= 1
