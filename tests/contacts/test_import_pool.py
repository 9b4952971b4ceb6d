"""The import's worker pool where production runs it: inside a Celery prefork process."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from contacts import services
from contacts.csv_import import check_chunk_for_copy

INITARGS = (["name", "phone"], ["name", "phone"], "US")
fork = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (POSIX)"
)


def _check_in_a_pool(results) -> None:
    pool = services._start_pool(2, INITARGS)
    if pool is None:
        results.put(None)
        return
    with pool:
        numbers, _lines, rejected, _rows = pool.submit(
            check_chunk_for_copy, (2, "Ada,(415) 555-2671\nBob,12\n", ",")
        ).result(timeout=30)
    results.put((numbers, [line for line, _cells, _reason in rejected]))


@fork
@pytest.mark.parametrize("process_module", ["multiprocessing", "billiard"])
def test_it_starts_its_pool_in_a_daemonic_process_as_celery_runs_tasks(process_module):
    # Celery's prefork pool (billiard) marks its processes daemonic, and multiprocessing
    # refuses children to those: the import then checked a million rows on one core.
    context = __import__(process_module).get_context("fork")
    results = context.Queue()
    process = context.Process(target=_check_in_a_pool, args=(results,), daemon=True)
    process.start()
    try:
        answer = results.get(timeout=60)
    finally:
        process.join(timeout=30)
    assert answer == (["+14155552671"], [3])
    assert process.exitcode == 0


def _start_pool_and_wait(pids) -> None:
    pool = services._start_pool(2, INITARGS)
    pids.put(sorted(pool._processes) if pool is not None else [])
    time.sleep(120)  # killed by the test long before


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waits for the init process to reap it: gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@fork
def test_it_ends_its_workers_when_the_importing_process_is_killed():
    # A worker hit by its hard time limit or SIGKILL: the pool's processes must not wait for
    # chunks forever (they hold the queue's other end themselves, so they never see it close).
    context = multiprocessing.get_context("fork")
    pids = context.Queue()
    process = context.Process(target=_start_pool_and_wait, args=(pids,))
    process.start()
    workers = pids.get(timeout=60)
    assert len(workers) == 2
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=10)
    deadline = time.monotonic() + 15
    try:
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers)
    finally:
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)  # left behind by a failure: not by the next test run
