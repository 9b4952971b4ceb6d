"""`manage.py run` (what `make run` starts) as a real process: it keeps its children running.

One `run` on free ports, in its own var/ directory (SQLite database and embedded broker, as
`make run` has them), serves the tests of this module in order; the last one makes it give up.
Calls are placed over HTTP through the API, signed in as the demo operator, to numbers inside
the shipped calling hours (the stack runs with the policy callops ships).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.sandbox import REPO_ROOT
from tests.utils import number_inside_shipped_calling_hours

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds the worker's processes in /proc (Linux)"
)

# Short enough for a test; the default (90 s) leaves room for long tasks.
PROBE_EVERY, PROBE_DEADLINE = 1, 15
# A call whose dispatch was lost with a stuck worker is dispatched again by the beat once its
# lease has run out: 3 s here instead of 90 s.
DISPATCH_LEASE_SECONDS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # it ended while we looked
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid and state != "Z":
            found.append((int(entry.name), command))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init, not for us)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    output: Path
    base_url: str
    sandbox_admin: str
    env: dict[str, str]
    api: requests.Session | None = None

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def worker(self, *, dial: bool = False) -> int | None:
        """The pid of the main Celery worker's main process (with `dial`, the dial queue's
        worker's), when there is one."""
        workers = [
            pid
            for pid, cmd in children_of(self.process.pid)
            if "dashboard worker" in cmd and ("--queues dial" in cmd) == dial
        ]
        return workers[0] if workers else None

    def sign_in(self, var_dir: Path) -> None:
        password = json.loads((var_dir / "demo-logins.json").read_text())["operator"]
        session = requests.Session()
        session.get(f"{self.base_url}/login/", timeout=10)
        session.post(
            f"{self.base_url}/login/",
            data={
                "username": "operator",
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": f"{self.base_url}/login/"},
            timeout=10,
        ).raise_for_status()
        session.headers.update(
            {"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{self.base_url}/"}
        )
        self.api = session

    def place_call(self, number: str) -> dict:
        assert self.api is not None
        agents = self.api.get(f"{self.base_url}/api/v1/agents/", timeout=10).json()["results"]
        revrag = next(agent for agent in agents if agent["name"] == "Collections reminder")
        response = self.api.post(
            f"{self.base_url}/api/v1/calls/",
            json={
                "vendor_account": revrag["vendor_account"],
                "agent": revrag["id"],
                "to_number": number,
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def vendor_call_ids(self, account: int) -> set[str]:
        """The vendor's ids of every call callops recorded for the vendor account."""
        assert self.api is not None
        ids: set[str] = set()
        url: str | None = f"{self.base_url}/api/v1/calls/?account={account}&limit=100"
        while url:
            page = self.api.get(url, timeout=10).json()
            ids |= {call["vendor_call_id"] for call in page["results"] if call["vendor_call_id"]}
            url = page["next"]
        return ids

    def call(self, call_id: int) -> dict:
        assert self.api is not None
        return self.api.get(f"{self.base_url}/api/v1/calls/{call_id}/", timeout=10).json()

    def sandbox(self, method: str, action: str, **kwargs) -> dict:
        response = requests.request(method, f"{self.sandbox_admin}/{action}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[Run]:
    var_dir = tmp_path_factory.mktemp("make-run")
    port, sandbox_port = free_port(), free_port()
    # `make run` as a user has it: no database, broker, cache or public URL configured.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "CELERY_", "REDIS_URL", "CALLOPS_"))
    }
    env.update(
        CALLOPS_VAR_DIR=str(var_dir),
        CALLOPS_DISPATCH_LEASE_SECONDS=str(DISPATCH_LEASE_SECONDS),
        DJANGO_SETTINGS_MODULE="dashboard.settings",
    )
    output = var_dir / "run.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run", "--port", str(port),
             "--sandbox-port", str(sandbox_port), "--sandbox-speed", "50",
             "--worker-probe-every", str(PROBE_EVERY),
             "--worker-probe-deadline", str(PROBE_DEADLINE)],
            cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    running = Run(
        process=process,
        output=output,
        base_url=f"http://127.0.0.1:{port}",
        sandbox_admin=f"http://127.0.0.1:{sandbox_port}/_sim",
        env=env,
    )
    try:
        wait_for(
            lambda: process.poll() is not None or "callops is starting" in running.log(),
            timeout=90,
            what="manage.py run to start",
        )
        assert process.poll() is None, running.log()[-3000:]
        wait_for(lambda: _answers(running.base_url), timeout=30, what="the web server")
        running.sign_in(var_dir)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # it stops its children, then itself
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/login/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def started(run: Run, call_ids: list[int]) -> bool:
    """Every call has left pending and queued: the vendor placed it."""
    return all(run.call(call_id)["state"] not in ("pending", "queued") for call_id in call_ids)


def test_it_sends_the_vendors_webhooks_to_the_port_it_serves(run):
    call = run.place_call(number_inside_shipped_calling_hours(191))
    wait_for(lambda: started(run, [call["id"]]), timeout=60, what="the call to be dispatched")
    wait_for(
        lambda: run.sandbox("GET", "webhooks", params={"vendor": "revrag"})["items"],
        timeout=30,
        what="a webhook",
    )
    deliveries = run.sandbox("GET", "webhooks", params={"vendor": "revrag"})["items"]
    assert {delivery["url"].split("/webhooks/")[0] for delivery in deliveries} == {run.base_url}
    assert all(delivery["status"] == 200 for delivery in deliveries), deliveries


def test_it_runs_a_dial_worker_the_overview_sees(run):
    assert run.worker(dial=True) is not None
    assert run.api is not None
    # Beat's first heartbeat for the dial queue comes 30 s after it starts.
    wait_for(
        lambda: b"Dialling worker running" in run.api.get(f"{run.base_url}/", timeout=10).content,
        timeout=60,
        what="the dial worker's heartbeat on the overview",
    )


def test_it_restarts_a_worker_killed_with_sigkill_and_keeps_everything_else(run):
    worker = run.worker()
    assert worker is not None
    pool = [pid for pid, _ in children_of(worker)]
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: run.worker() not in (None, worker), timeout=20, what="a new worker")
    assert run.process.poll() is None
    assert _answers(run.base_url)
    assert not any(running(pid) for pid in pool), "orphaned pool processes"
    call = run.place_call(number_inside_shipped_calling_hours(192))
    wait_for(lambda: started(run, [call["id"]]), timeout=60, what="the call to be dispatched")
    assert "The worker process was killed by signal 9 (SIGKILL); restarting it" in run.log()


def test_it_restarts_a_worker_whose_pool_stopped_taking_tasks(run):
    # The vendor holds its answer 3 s after creating each call: pool processes are killed in
    # the middle of dispatching, and the ones that replace them block on a lock a killed one
    # held. The worker's main process is fine all along.
    run.sandbox("POST", "faults", json={"vendor": "revrag", "latency_after_create_ms": 3000})
    calls = [run.place_call(number_inside_shipped_calling_hours(n)) for n in range(200, 206)]
    worker = run.worker()
    assert worker is not None
    for _ in range(3):
        time.sleep(1.5)
        for pool_process, _ in children_of(worker):
            os.kill(pool_process, signal.SIGKILL)
    calls += [run.place_call(number_inside_shipped_calling_hours(n)) for n in range(206, 209)]
    run.sandbox("POST", "faults", json={"vendor": "revrag", "latency_after_create_ms": 0})

    call_ids = [call["id"] for call in calls]
    wait_for(lambda: started(run, call_ids), timeout=100, what="every call to be dispatched")
    assert "The worker process has not run a probe task for 15 s: stopping it." in run.log()
    assert run.worker() != worker
    assert all(run.call(call_id)["state"] != "failed" for call_id in call_ids)
    # Once each: every call the vendor holds is one callops recorded, and the other way round
    # (a retry with a new idempotency key would have left the vendor a call callops never saw).
    ours = {run.call(call_id)["vendor_call_id"] for call_id in call_ids}
    assert len(ours) == len(call_ids)
    account = calls[0]["vendor_account"]
    wait_for(
        lambda: set(run.sandbox("GET", "state/revrag")["calls"]) == run.vendor_call_ids(account),
        timeout=30,
        what="the vendor's calls to be callops' calls",
    )


def test_it_stops_everything_loudly_when_the_worker_keeps_dying(run):
    web_and_sandbox = [
        pid for pid, cmd in children_of(run.process.pid) if "gunicorn" in cmd or "simulators" in cmd
    ]
    killed: set[int] = set()
    deadline = time.monotonic() + 60
    while run.process.poll() is None and time.monotonic() < deadline:
        worker = run.worker()
        if worker is not None and worker not in killed:
            os.kill(worker, signal.SIGKILL)
            killed.add(worker)
        time.sleep(0.1)
    assert run.process.wait(timeout=30) == 1
    assert run.log().rstrip().endswith("stopped everything. See its output above."), run.log()[
        -2000:
    ]
    assert "The worker process stopped 5 times within 60 s" in run.log()
    assert not any(running(pid) for pid in web_and_sandbox)
    assert not _answers(run.base_url)
