"""Health probes: /healthz (the process answers) and /readyz (it can do its work).

Both, and /metrics (dashboard/metrics.py), are answered by a middleware near the top of
MIDDLEWARE, before the host check and the HTTPS redirect: a load balancer, an orchestrator or
Prometheus reach a process by IP address over plain HTTP, and no answer here builds a URL from
the Host header. No login, and nothing in the answer a
stranger could use: each check says ok or one word of why not, never a host, URL or message.

Each readiness check runs in its own thread with a deadline, so a database or broker that
hangs makes the probe answer 503 "timeout" in about a second instead of hanging with it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

from dashboard.metrics import METRICS_PATH, metrics_answer

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return {"ok": True} if self.ok else {"ok": False, "reason": self.reason}


class CheckFailed(Exception):
    """A check's own verdict: its one-word reason, shown in the answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_database() -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        raise CheckFailed("unreachable") from exc


# Once every migration is applied it stays so for the life of the process (a release with new
# migrations starts new processes), so a ready process does not read the migration files again.
_migrations_applied = False


def check_migrations() -> None:
    global _migrations_applied
    if _migrations_applied:
        return
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        raise CheckFailed("unknown") from exc
    if plan:
        raise CheckFailed("pending")
    _migrations_applied = True


def check_broker() -> None:
    from dashboard.celery import app

    try:
        with app.connection_for_write() as connection:
            # No retries: the probe asks whether the broker answers now.
            connection.ensure_connection(
                max_retries=0, timeout=settings.CALLOPS_READY_CHECK_SECONDS
            )
            connection.default_channel  # noqa: B018 - opening a channel proves the broker answers
    except Exception as exc:
        raise CheckFailed("unreachable") from exc


def check_cache() -> None:
    key, value = "callops:readyz", secrets.token_hex(8)
    try:
        cache.set(key, value, timeout=10)
        read = cache.get(key)
    except Exception as exc:
        raise CheckFailed("unreachable") from exc
    if read != value:
        raise CheckFailed("unreliable")


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "cache": check_cache,
}


def _run_check(name: str, check: Callable[[], None], results: dict[str, CheckResult]) -> None:
    try:
        check()
        results[name] = CheckResult(ok=True)
    except CheckFailed as exc:
        results[name] = CheckResult(ok=False, reason=exc.reason)
    except Exception:
        results[name] = CheckResult(ok=False, reason="error")
    finally:
        # The thread's own database connection, opened by the check: not left behind.
        connections.close_all()


def readiness() -> dict[str, CheckResult]:
    """Every check at once, each in its own thread; one still running at the deadline is a
    "timeout" (its thread is left to finish or fail on its own)."""
    results: dict[str, CheckResult] = {}
    threads = [
        threading.Thread(
            target=_run_check, args=(name, check, results), name=f"readyz-{name}", daemon=True
        )
        for name, check in READINESS_CHECKS.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + settings.CALLOPS_READY_CHECK_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {
        name: results.get(name, CheckResult(ok=False, reason="timeout"))
        for name in READINESS_CHECKS
    }


def _probe_answer(request: HttpRequest) -> HttpResponse | None:
    if request.path == METRICS_PATH:
        return metrics_answer(request)
    if request.path == HEALTH_PATH:
        return JsonResponse({"status": "ok"})
    if request.path != READY_PATH:
        return None
    results = readiness()
    ready = all(result.ok for result in results.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: result.as_json() for name, result in results.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)


def probes_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        answer = _probe_answer(request) if request.method in ("GET", "HEAD") else None
        if answer is None:
            return get_response(request)
        answer["Cache-Control"] = "no-store"
        return answer

    return middleware
