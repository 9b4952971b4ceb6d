"""The supervision of `make run` (dashboard/supervisor.py): restart policy, liveness probe, and
a supervisor driving small real processes."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from dashboard.supervisor import ChildSpec, GiveUp, LivenessProbe, RestartPolicy, Supervisor

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


def test_it_doubles_the_delay_after_each_crash_and_gives_up_at_the_fifth():
    policy = RestartPolicy(first_delay=1.0, max_crashes=5, window=60.0)
    delays = [policy.delay_after_crash(now) for now in (0.0, 1.0, 3.0, 7.0, 15.0)]
    assert delays == [1.0, 2.0, 4.0, 8.0, None]


def test_it_forgets_crashes_older_than_the_window():
    policy = RestartPolicy(first_delay=1.0, max_crashes=3, window=60.0)
    delays = [policy.delay_after_crash(now) for now in (0.0, 61.0, 122.0, 183.0, 244.0)]
    assert delays == [1.0, 1.0, 1.0, 1.0, 1.0]


def test_it_caps_the_delay():
    policy = RestartPolicy(first_delay=1.0, max_delay=5.0, max_crashes=100, window=1000.0)
    delays = [policy.delay_after_crash(float(now)) for now in range(6)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


class FakeWorker:
    """Answers probes while `taking_tasks`; `send` and `answered` can be made to fail."""

    def __init__(self) -> None:
        self.taking_tasks = True
        self.sent = 0
        self.pending = False
        self.send_error: Exception | None = None
        self.read_error: Exception | None = None

    def send(self) -> None:
        if self.send_error:
            raise self.send_error
        self.sent += 1
        self.pending = True

    def answered(self) -> bool:
        if self.read_error:
            raise self.read_error
        if self.pending and self.taking_tasks:
            self.pending = False
            return True
        return False


def probe_of(worker: FakeWorker, *, interval: float = 10.0, deadline: float = 30.0):
    probe = LivenessProbe(
        send=worker.send, answered=worker.answered, interval=interval, deadline=deadline
    )
    probe.restart(0.0)
    return probe


def test_it_sends_a_probe_each_interval_while_the_worker_answers():
    worker = FakeWorker()
    probe = probe_of(worker)
    assert probe.alive(5.0) and worker.sent == 0  # the worker is still starting
    assert all(probe.alive(float(now)) for now in range(10, 60))
    assert worker.sent == 5  # one every 10 s (each answered at once)


def test_it_fails_a_worker_that_leaves_a_probe_unanswered_past_the_deadline():
    worker = FakeWorker()
    probe = probe_of(worker)
    assert probe.alive(10.0) and worker.sent == 1
    worker.taking_tasks = False
    assert probe.alive(39.9)
    assert not probe.alive(40.0)


def test_it_blames_neither_a_failed_send_nor_a_failed_read_on_the_worker():
    worker = FakeWorker()
    probe = probe_of(worker)
    worker.send_error = RuntimeError("database is locked")
    assert all(probe.alive(float(now)) for now in range(10, 100))
    assert worker.sent == 0
    worker.send_error = None
    assert probe.alive(100.0) and worker.sent == 1
    worker.read_error = RuntimeError("database is locked")
    assert probe.alive(110.0)
    assert not probe.alive(130.0)  # unanswered as far as anyone can tell: the deadline holds
    worker.read_error = None


def test_it_waits_for_the_worker_to_start_again_after_a_restart():
    worker = FakeWorker()
    probe = probe_of(worker)
    worker.taking_tasks = False
    probe.alive(10.0)
    assert not probe.alive(41.0)
    probe.restart(45.0)
    worker.taking_tasks = True
    worker.pending = False
    assert probe.alive(80.0)  # a fresh probe, sent at 55 s and answered


# --- a supervisor with real processes ---------------------------------------------------------


def python_child(name: str, code: str, **spec) -> ChildSpec:
    return ChildSpec(
        name=name,
        command=[sys.executable, "-c", code],
        env=dict(os.environ),
        cwd=Path.cwd(),
        **spec,
    )


def fast_policy() -> RestartPolicy:
    return RestartPolicy(first_delay=0.05, max_delay=0.2, max_crashes=4, window=30.0)


def run_until(supervisor: Supervisor, condition, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        supervisor.check(time.monotonic())
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent, not this test, reaps it).
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def supervisor():
    said: list[str] = []
    supervisor = Supervisor(say=said.append, policy=fast_policy, stop_grace=5.0, hung_grace=0.5)
    supervisor.said = said  # type: ignore[attr-defined]
    yield supervisor
    supervisor.stop_all()


def test_it_restarts_a_child_that_is_killed(supervisor):
    first = supervisor.start(python_child("web", "import time; time.sleep(60)"))
    os.kill(first.pid, signal.SIGKILL)
    run_until(supervisor, lambda: supervisor.children[0].process.pid != first.pid)
    second = supervisor.children[0].process
    assert second.poll() is None
    assert "The web process was killed by signal 9 (SIGKILL); restarting it in 0 s." in (
        supervisor.said
    )


def test_it_gives_up_on_a_child_that_keeps_crashing_and_says_why(supervisor):
    supervisor.start(python_child("beat", "import time; time.sleep(60)"))
    supervisor.start(python_child("worker", "raise SystemExit(3)"))
    with pytest.raises(GiveUp) as gave_up:
        run_until(supervisor, lambda: False)
    assert str(gave_up.value).startswith(
        "The worker process stopped 4 times within 30 s (last time it exited with code 3)"
    )
    beat = supervisor.children[0].process
    supervisor.stop_all()
    assert beat.poll() is not None


def test_it_restarts_a_child_whose_probe_goes_unanswered_with_its_whole_group(supervisor, tmp_path):
    # The child starts a grandchild in its process group, as a Celery worker starts its pool.
    pid_file = tmp_path / "grandchild"
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    worker = FakeWorker()
    worker.taking_tasks = False
    probe = LivenessProbe(send=worker.send, answered=worker.answered, interval=0.1, deadline=0.5)
    first = supervisor.start(python_child("worker", code, probe=probe))
    run_until(supervisor, lambda: pid_file.exists() and pid_file.read_text())
    grandchild = int(pid_file.read_text())
    run_until(supervisor, lambda: supervisor.children[0].process.pid != first.pid)
    assert not alive(first.pid) and not alive(grandchild)
    assert "The worker process has not run a probe task for 0 s: stopping it." in supervisor.said
    worker.taking_tasks = True
    sent = worker.sent
    run_until(supervisor, lambda: worker.sent > sent + 2)  # answered again: left alone
    assert supervisor.children[0].process.poll() is None


def test_it_stops_every_child_and_its_group(supervisor):
    processes = [
        supervisor.start(python_child(name, "import time; time.sleep(60)"))
        for name in ("sandbox", "worker", "web")
    ]
    supervisor.stop_all()
    assert all(process.poll() is not None for process in processes)
