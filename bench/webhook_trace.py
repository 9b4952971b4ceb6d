"""Where a webhook request's time goes, inside the server (bench_webhook_ingest.py --trace).

A middleware, first in the chain, writes one line per request: its path, its wall time, the
thread's CPU time, and the time off the CPU inside calls to PostgreSQL (every statement), to
the shared cache (Redis) and publishing Celery messages: the round trip, plus getting the GIL
back once the answer is in while other threads hold it (up to the 5 ms switch interval each
time). What is left of the wall time is time the thread was runnable but not running
elsewhere: waiting for a core or for the GIL. The benchmark reads the lines back and compares
each endpoint's slowest requests with its typical ones.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

from django.db import connection
from django.http import HttpRequest, HttpResponse

FOLDER = os.environ.get("BENCH_WEBHOOK_TRACE", "")
_state = threading.local()
_files: dict[int, object] = {}
_files_lock = threading.Lock()


@contextmanager
def _timed(kind: str):
    """Adds the time off the CPU during the block (wall minus the thread's CPU) to `kind`."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        spent = getattr(_state, "spent", None)
        if spent is not None:
            off_cpu = (time.perf_counter() - started) - (time.thread_time() - cpu_started)
            spent[kind] = spent.get(kind, 0.0) + max(0.0, off_cpu)


def _timing(kind: str, function: Callable) -> Callable:
    @wraps(function)
    def wrapper(*args, **kwargs):
        with _timed(kind):
            return function(*args, **kwargs)

    return wrapper


def install() -> None:
    """Wrap the cache client's and Celery's sending methods (this server process only)."""
    from celery import Celery
    from django.core.cache.backends.redis import RedisCacheClient

    for name in ("add", "get", "set", "delete"):
        setattr(RedisCacheClient, name, _timing("redis", getattr(RedisCacheClient, name)))
    Celery.send_task = _timing("publish", Celery.send_task)


def _sql(execute, sql, params, many, context):
    with _timed("sql"):
        return execute(sql, params, many, context)


def _line_file():
    pid = os.getpid()
    with _files_lock:
        if pid not in _files:
            _files[pid] = open(Path(FOLDER) / f"{pid}.tsv", "a", buffering=1)  # noqa: SIM115
        return _files[pid]


def trace_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        _state.spent = {}
        started, cpu_started = time.perf_counter(), time.thread_time()
        with connection.execute_wrapper(_sql):
            response = get_response(request)
        wall, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
        spent, _state.spent = _state.spent, None
        figures = [wall, cpu, spent.get("sql", 0.0), spent.get("redis", 0.0)]
        figures.append(spent.get("publish", 0.0))
        line = "\t".join([request.path, *(f"{value * 1000:.3f}" for value in figures)])
        _line_file().write(line + "\n")
        return response

    return middleware


KINDS = ("wall", "cpu", "sql", "redis", "publish")


def read_traces(folder: str) -> dict[str, list[dict[str, float]]]:
    """Every traced request by path: its figures in ms, and 'waiting' (wall minus the rest)."""
    by_path: dict[str, list[dict[str, float]]] = {}
    for file in Path(folder).glob("*.tsv"):
        for line in file.read_text().splitlines():
            path, *values = line.split("\t")
            row = dict(zip(KINDS, map(float, values), strict=True))
            row["waiting"] = max(0.0, row["wall"] - row["cpu"] - row["sql"] - row["redis"])
            row["waiting"] = max(0.0, row["waiting"] - row["publish"])
            by_path.setdefault(path, []).append(row)
    return by_path


def print_tail_breakdown(by_path: dict[str, list[dict[str, float]]], labels: dict[str, str]):
    """For each endpoint: its median request and its slowest 1 %, each kind's mean ms."""
    kinds = (*KINDS, "waiting")
    print("inside the server, ms: wall, CPU, off the CPU in PostgreSQL / Redis / publishing "
          "calls (round trip + getting the GIL back), and waiting elsewhere (for a core or the "
          "GIL):")  # fmt: skip
    print(f"    {'':<28} {'':>12} " + " ".join(f"{kind:>8}" for kind in kinds))
    for path, label in labels.items():
        rows = sorted(by_path.get(path, []), key=lambda row: row["wall"])
        if not rows:
            continue
        middle = rows[len(rows) // 2 - len(rows) // 20 : len(rows) // 2 + len(rows) // 20 + 1]
        slowest = rows[-max(1, len(rows) // 100) :]
        for name, group in (("median 10 %", middle), ("slowest 1 %", slowest)):
            means = [sum(row[kind] for row in group) / len(group) for kind in kinds]
            print(f"    {label:<28} {name:>12} " + " ".join(f"{mean:8.2f}" for mean in means))
