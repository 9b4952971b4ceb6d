"""The Celery app: configuration comes from Django settings (CELERY_*), tasks from each app."""

import os
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    beat_init,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_init,
)

from accounts.request_id import put_request_id_in_headers
from dashboard.task_signals import task_finished, task_started
from dashboard.workers import DIAL_QUEUE, DIAL_WORKER_HEARTBEAT, MAIN_WORKER_HEARTBEAT

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("callops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each worker also consumes a queue of its own (`<node name>.dq2`): the liveness probe
# (dashboard.tasks.answer_worker_probe) must reach one given worker, past any backlog.
app.conf.worker_direct = True


@worker_init.connect
@beat_init.connect
def _refuse_to_start_with_unreadable_secrets(**kwargs: Any) -> None:
    """Celery runs Django's checks but ignores their errors, and swallows a signal handler's
    exceptions: SystemExit is what stops a worker or beat whose secrets cannot be read."""
    from django.core.exceptions import ImproperlyConfigured

    from dashboard.checks import refuse_to_start_with_unreadable_secrets

    try:
        refuse_to_start_with_unreadable_secrets()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"callops cannot start: {exc}") from exc


# The periodic schedule lives in code, next to the app, so every deployment runs the same jobs.
# Each job is safe if two runs overlap (they claim rows before working on them).
app.conf.beat_schedule = {
    "worker-heartbeat": {
        "task": "dashboard.tasks.record_heartbeat",
        "schedule": 30.0,
        "kwargs": {"name": MAIN_WORKER_HEARTBEAT},
    },
    "dial-worker-heartbeat": {
        "task": "dashboard.tasks.record_heartbeat",
        "schedule": 30.0,
        "kwargs": {"name": DIAL_WORKER_HEARTBEAT},
        "options": {"queue": DIAL_QUEUE},
    },
    "alerts-evaluate": {"task": "dashboard.tasks.evaluate_alerts", "schedule": 60.0},
    "analytics-summary": {"task": "analytics.tasks.refresh_analytics_summary", "schedule": 60.0},
    "calls-sync-due": {"task": "calls.tasks.sync_due_calls", "schedule": 10.0},
    "calls-redispatch-stuck": {"task": "calls.tasks.redispatch_stuck_calls", "schedule": 30.0},
    "calls-sweep-webhooks": {"task": "calls.tasks.sweep_pending_webhooks", "schedule": 30.0},
    "calls-sync-agents": {"task": "calls.tasks.sync_all_agents", "schedule": 600.0},
    "calls-import-revont": {"task": "calls.tasks.import_all_revont_calls", "schedule": 60.0},
    "calls-post-call": {"task": "calls.tasks.advance_post_call", "schedule": 10.0},
    "calls-callbacks": {"task": "calls.tasks.dial_due_callbacks", "schedule": 30.0},
    "campaigns-dispatch": {"task": "campaigns.tasks.dispatch_paced_campaigns", "schedule": 2.0},
    "campaigns-outcomes": {"task": "campaigns.tasks.record_campaign_outcomes", "schedule": 10.0},
    "campaigns-sync-native": {"task": "campaigns.tasks.sync_native_campaigns", "schedule": 30.0},
    "contacts-resume-pushes": {"task": "contacts.tasks.resume_customer_pushes", "schedule": 30.0},
    "contacts-prune-attempts": {"task": "contacts.tasks.prune_dial_attempts", "schedule": 3600.0},
}


# A task carries the id of the request that enqueued it, and is counted and timed.
before_task_publish.connect(put_request_id_in_headers)
task_prerun.connect(task_started)
task_postrun.connect(task_finished)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_webhook_tokens(logger: Any, **kwargs: Any) -> None:
    """Celery replaces the root handlers with its own: they mask webhook tokens too, add the
    request id, and write JSON lines when callops does (CALLOPS_LOG_FORMAT)."""
    from django.conf import settings

    from accounts.request_id import add_request_id
    from dashboard.log_format import as_json_lines
    from dashboard.log_redaction import add_redaction

    for handler in logger.handlers:
        add_redaction(handler)
        add_request_id(handler)
        if settings.CALLOPS_LOG_FORMAT == "json":
            as_json_lines(handler)
