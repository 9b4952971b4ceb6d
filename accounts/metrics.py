"""The Prometheus counters callops' own code moves, defined once on the ground floor so every app
may count (webhooks in calls/, rate-budget waits in vendors/, tasks in dashboard/task_signals.py).

prometheus_client keeps them per process, or in files under PROMETHEUS_MULTIPROC_DIR when that
is set (web and worker processes of one machine then add up in one scrape: README "Health and
metrics"). Labels take only values from short fixed lists (vendor kinds, results, task names,
endpoint groups), never input, so the number of series stays small.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOK_DELIVERIES = Counter(
    "callops_webhook_deliveries_total",
    "Webhook deliveries received, by vendor and result.",
    ["vendor", "result"],
)


class WebhookResult:
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"  # signature or timestamp refused
    UNKNOWN_ACCOUNT = "unknown_account"
    TOO_LARGE = "too_large"
    BAD_REQUEST = "bad_request"
    STORE_FAILED = "store_failed"


RATE_BUDGET_WAITS = Counter(
    "callops_rate_budget_waits_total",
    "Times a vendor request slept because its rate budget was used up.",
    ["vendor", "group"],
)
RATE_BUDGET_WAIT_SECONDS = Counter(
    "callops_rate_budget_wait_seconds_total",
    "Seconds vendor requests slept waiting for their rate budget.",
    ["vendor", "group"],
)
RATE_BUDGET_DEFERRALS = Counter(
    "callops_rate_budget_deferrals_total",
    "Vendor requests put off to a later try because the budget frees up only later.",
    ["vendor", "group"],
)

TASKS = Counter(
    "callops_celery_tasks_total",
    "Celery tasks finished, by task and result (succeeded, failed, retried).",
    ["task", "result"],
)
TASK_SECONDS = Histogram(
    "callops_celery_task_duration_seconds",
    "How long Celery tasks ran, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0),
)


def count_webhook(vendor: str, result: str) -> None:
    WEBHOOK_DELIVERIES.labels(vendor=vendor, result=result).inc()
