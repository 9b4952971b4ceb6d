"""Four OS processes share one vendor key through the database rate budget."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from tests.sandbox import REPO_ROOT
from vendors.models import VendorAccount, VendorKind

WORKERS = 4
# The sandbox's 60/min, shortened: the same budget logic, 20 times the pace.
LIMIT, WINDOW_SECONDS = 60, 3.0
RUN_SECONDS = 9.0


@pytest.mark.parametrize("latency_jitter_ms", [0, 100])
def test_it_shares_one_budget_across_processes_without_a_429(
    transactional_db, sandbox, latency_jitter_ms
):
    sandbox.set_rate_limit("revrag", LIMIT, WINDOW_SECONDS)
    sandbox.faults("revrag", latency_jitter_ms=latency_jitter_ms)
    account = VendorAccount(
        kind=VendorKind.REVRAG,
        name="Shared budget",
        base_url=sandbox.vendors["revrag"].base_url,
        rate_limits={"default": {"limit": LIMIT, "window_seconds": WINDOW_SECONDS}},
    )
    account.set_api_key(sandbox.vendors["revrag"].api_key)
    account.save()

    environment = {**os.environ, "CALLOPS_TEST_DB_NAME": str(connection.settings_dict["NAME"])}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.contract.budget_worker",
                str(account.pk),
                str(RUN_SECONDS),
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    # Every process has started Django and opened its client: they all begin together.
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.5
    for worker in workers:
        worker.stdin.write(f"{start_at}\n")
        worker.stdin.flush()
    tallies = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]

    entries = sandbox.log("revrag")
    assert [entry for entry in entries if entry["status"] == 429] == []
    assert sum(tally["errors"] for tally in tallies) == 0
    assert all(tally["ok"] > 0 for tally in tallies), "every process got its turn"

    # Count only the sandbox windows that lie wholly inside the run.
    first_window = math.ceil(start_at / WINDOW_SECONDS)
    last_window = math.floor((start_at + RUN_SECONDS) / WINDOW_SECONDS) - 1
    windows = range(first_window, last_window + 1)
    used = sum(
        1
        for entry in entries
        if entry["status"] == 200 and math.floor(entry["t"] / WINDOW_SECONDS) in windows
    )
    allowed = LIMIT * len(windows)
    assert len(windows) >= 2
    assert used >= 0.95 * allowed, (used, allowed)
