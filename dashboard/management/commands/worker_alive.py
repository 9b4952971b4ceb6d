"""`manage.py worker_alive`: exit 0 if a Celery worker can take a task now, 1 if not.

The liveness probe of `manage.py run`, for a supervisor of your own (a systemd timer, a
container health check): it sends a probe task to the worker's own queue and waits for one of
its pool processes to answer. Celery's `inspect ping` is answered by the worker's main process
and says nothing of its pool, which can be stuck while the main process is fine.
"""

from __future__ import annotations

import time
from typing import Any

from celery.utils.nodenames import host_format
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.selectors import worker_probe_answered
from dashboard.services import worker_probe_send


class Command(BaseCommand):
    help = "Exit 0 if the Celery worker NODE runs a probe task within the timeout, else 1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--node",
            default="celery@%h",
            help="The worker's node name, as given to `celery worker -n` (default celery@%%h; "
            "%%h is this machine's host name).",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=90.0,
            help="Seconds to wait for the answer (default 90). Give it more than your longest "
            "task when the worker may be busy with long tasks in every pool process.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        node = host_format(options["node"])
        timeout = options["timeout"]
        if timeout <= 0:
            raise CommandError("--timeout must be more than 0 seconds.")
        started = time.monotonic()
        worker_probe_send(node=node, expires_in=timeout)
        while time.monotonic() - started < timeout:
            if worker_probe_answered(node=node):
                took = time.monotonic() - started
                self.stdout.write(f"{node} ran a probe task in {took:.1f} s.")
                return
            time.sleep(0.2)
        raise CommandError(f"{node} did not run a probe task within {timeout:.0f} s.")
