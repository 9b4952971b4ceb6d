"""`manage.py worker_alive`, the liveness probe for production supervisors, against a real
Celery worker on the configured database and broker (PostgreSQL and Redis in CI; otherwise
SQLite and the embedded broker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.sandbox import REPO_ROOT
from tests.utils import child_process_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path("/proc/self/stat").exists(), reason="finds the pool's processes in /proc (Linux)"
    ),
]


def pool_of(worker: int) -> list[int]:
    pool = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == worker:
                pool.append(int(entry.name))
    return pool


@pytest.fixture
def probe_env(tmp_path) -> dict[str, str]:
    return child_process_env(
        CALLOPS_VAR_DIR=str(tmp_path),
        SECRET_KEY=settings.SECRET_KEY,
        CALLOPS_ENCRYPTION_KEYS=",".join(settings.CALLOPS_ENCRYPTION_KEYS),
        CELERY_TASK_ALWAYS_EAGER="false",
        # Set (Redis in CI): that broker; empty: the embedded broker in tmp_path.
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", ""),
    )


@pytest.fixture
def worker(probe_env):
    node = f"probe-{uuid.uuid4().hex[:8]}@%h"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--pool", "prefork",
         "--concurrency", "1", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-mingle", "--without-gossip", "--hostname", node],
        cwd=REPO_ROOT, env=probe_env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not pool_of(process.pid):
        assert time.monotonic() < deadline, "the worker did not start its pool"
        time.sleep(0.1)
    yield process, node, probe_env
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def worker_alive(env: dict[str, str], node: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "worker_alive", "--node", node, "--timeout", str(timeout)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout + 30,
    )  # fmt: skip


def test_it_passes_only_while_a_pool_process_can_take_a_task(worker):
    process, node, env = worker
    alive = worker_alive(env, node, timeout=30)
    assert alive.returncode == 0, alive.stderr
    assert "ran a probe task in" in alive.stdout

    # The main process still runs (and would answer `celery inspect ping`); its pool cannot.
    pool = pool_of(process.pid)
    for pid in pool:
        os.kill(pid, signal.SIGSTOP)
    stuck = worker_alive(env, node, timeout=3)
    assert stuck.returncode == 1
    assert "did not run a probe task within 3 s" in stuck.stderr

    for pid in pool:
        os.kill(pid, signal.SIGCONT)
    again = worker_alive(env, node, timeout=30)
    assert again.returncode == 0, again.stderr


def test_it_fails_for_a_worker_that_is_not_there(probe_env):
    absent = worker_alive(probe_env, "nobody@%h", timeout=1)
    assert absent.returncode == 1
    assert "did not run a probe task within 1 s" in absent.stderr
