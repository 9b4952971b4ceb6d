"""What every Celery task reports besides its own work: its request id and its metrics.

Infrastructure, connected once in dashboard/celery.py: the id of the request that enqueued a
task travels in a message header and is bound while the task runs (accounts/request_id.py);
each task's run is counted by result and timed (accounts/metrics.py).
"""

from __future__ import annotations

import time
from typing import Any

from accounts.metrics import TASK_SECONDS, TASKS
from accounts.request_id import bind_task_request_id, unbind_task_request_id

RESULTS = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}

_started: dict[str, float] = {}


def task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.perf_counter()
    bind_task_request_id(task_id, task)


def task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    try:
        started = _started.pop(task_id or "", None)
        name = getattr(task, "name", None) or "unknown"
        if started is not None:
            TASK_SECONDS.labels(task=name).observe(time.perf_counter() - started)
        TASKS.labels(task=name, result=RESULTS.get(state or "", (state or "unknown").lower())).inc()
    finally:
        unbind_task_request_id(task_id)
