"""The one way code in calls/ puts work on the queue.

Services, webhooks and post-call code never import calls.tasks (which imports them): only this
module reaches it, at call time, so the room reads top-down (tasks → services → models). It
imports the module rather than asking Celery's registry by name because a web process has not
autodiscovered the tasks. Each function sends one message; callers decide when (on commit).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def _send(task: str, *args: Any) -> None:
    getattr(import_module("calls.tasks"), task).delay(*args)


def dispatch_call(call_id: int) -> None:
    _send("dispatch_call", call_id)


def process_webhook(inbox_id: int) -> None:
    _send("process_webhook", inbox_id)


def drain_webhooks() -> None:
    _send("drain_webhooks")


def refresh_revont_record(account_id: int, record_id: str) -> None:
    _send("refresh_revont_record", account_id, record_id)


def run_post_call(call_id: int) -> None:
    _send("run_post_call", call_id)


def plan_post_call(call_id: int) -> None:
    _send("plan_post_call", call_id)


def measure_conversation(call_id: int) -> None:
    _send("measure_conversation", call_id)
