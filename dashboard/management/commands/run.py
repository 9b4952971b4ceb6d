"""`make run`: everything callops needs on one machine, stopped together by Ctrl-C.

Migrates, starts the vendor sandbox, seeds demo data that points at it, then runs the web server,
two Celery workers (the main one and the dial queue's) and Celery beat as child processes. Each
child gets its own session so Ctrl-C reaches only this supervisor, which then stops the
children in order and waits for them.

A child that dies is restarted with backoff, and a worker that stops taking tasks is restarted
too (dashboard/supervisor.py); a child that keeps dying stops everything with a message.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from celery.utils.nodenames import host_format
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from dashboard.demo import (
    connect_sandbox,
    seed_contacts,
    seed_demo_campaigns,
    seed_demo_reviews,
    seed_post_call_rule,
    seed_sandbox_accounts,
    seed_users,
)
from dashboard.selectors import worker_probe_answered
from dashboard.services import worker_probe_send
from dashboard.supervisor import ChildSpec, GiveUp, LivenessProbe, Supervisor

SANDBOX_VENDORS = ("revrag", "voice_platform", "revont", "callcov", "revor")
SANDBOX_KEY_STYLE = {"callcov": "sk_test_", "revor": "sk-revor-"}
WORKER_NODE = "callops-worker@%h"
# Starts paced campaigns' calls on their slots, past the main worker's backlog (settings:
# CALLOPS_DIAL_QUEUE). Two processes: a slot whose vendor is slow to answer does not hold the next.
DIAL_WORKER_NODE = "callops-dial@%h"


# gunicorn's default access line, then the request id callops answered with (X-Request-ID).
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
)


def web_command(port: int) -> list[str]:
    """The web server `make run` starts: gunicorn with an access log that masks webhook tokens."""
    return [
        sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--threads", "4", "--access-logfile", "-",
        "--access-logformat", ACCESS_LOG_FORMAT,
        "--logger-class", "dashboard.log_redaction.RedactingGunicornLogger",
    ]  # fmt: skip


def fresh_metrics_dir(var_dir: Path) -> Path:
    """The folder where the web and worker processes keep their Prometheus counters, emptied at
    each start (prometheus_client's multiprocess mode: one scrape of /metrics adds them up)."""
    folder = var_dir / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder


class Command(BaseCommand):
    help = "Run the web server, the Celery workers, Celery beat and the vendor sandbox together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8100)
        parser.add_argument(
            "--sandbox-speed",
            type=float,
            default=4.0,
            help="How much faster than real time sandbox calls progress (default 4).",
        )
        parser.add_argument(
            "--worker-probe-every",
            type=float,
            default=15.0,
            help="Seconds between two liveness probes of each Celery worker (default 15).",
        )
        parser.add_argument(
            "--worker-probe-deadline",
            type=float,
            default=90.0,
            help="Restart a Celery worker when a probe task has not run within this many "
            "seconds (default 90: longer than the tasks that may keep both its processes busy).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.supervisor = Supervisor(say=self._say)
        # Both set explicitly: a shell that starts us in the background ignores SIGINT, and
        # Python then leaves it ignored.
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._run(options)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        except GiveUp as exc:
            # Raised after `finally` has stopped every child: the message is the last line.
            raise CommandError(str(exc)) from None
        finally:
            self.supervisor.stop_all()

    def _on_signal(self, signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def _say(self, message: str) -> None:
        self.stdout.write(self.style.WARNING(f"[run] {message}"))

    def _run(self, options: dict[str, Any]) -> None:
        if options["worker_probe_every"] <= 0 or options["worker_probe_deadline"] <= 0:
            raise CommandError("--worker-probe-every and --worker-probe-deadline must be > 0.")
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Lines for a person reading the terminal; production writes JSON (README "Logs").
        env.setdefault("CALLOPS_LOG_FORMAT", "text")
        # Alert emails are printed by the worker instead of sent.
        env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
        # Worker and web processes count into one folder, so /metrics shows the worker's tasks.
        if not env.get("PROMETHEUS_MULTIPROC_DIR"):
            env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(var_dir))
        # The vendors' webhooks must reach this server, on the port it listens on; the demo
        # seeding registers them with settings.CALLOPS_PUBLIC_URL, the children read the variable.
        if not os.environ.get("CALLOPS_PUBLIC_URL"):
            env["CALLOPS_PUBLIC_URL"] = f"http://127.0.0.1:{options['port']}"
            settings.CALLOPS_PUBLIC_URL = env["CALLOPS_PUBLIC_URL"]
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        logins = seed_users()
        seed_contacts()

        sandbox_admin = f"http://127.0.0.1:{options['sandbox_port']}/_sim"
        sandbox_lines = self._start_sandbox(options["sandbox_port"], options["sandbox_speed"])
        if sandbox_lines:
            accounts = seed_sandbox_accounts(sandbox_lines)
            connect_sandbox(accounts, sandbox_admin)
            seed_post_call_rule(accounts)
            seed_demo_reviews()
            # Launched last: the worker and beat started below dial them against the sandbox.
            seed_demo_campaigns(accounts)

        python = sys.executable
        for name, node_name, queues in (
            ("worker", WORKER_NODE, []),
            ("dial worker", DIAL_WORKER_NODE, ["--queues", settings.CALLOPS_DIAL_QUEUE]),
        ):
            self._start_worker(name, host_format(node_name), queues, env, options)
        self._start(
            "beat",
            [python, "-m", "celery", "-A", "dashboard", "beat", "--loglevel", "INFO",
             "--schedule", str(var_dir / "celerybeat-schedule")],
            env,
        )  # fmt: skip
        self._start("web", web_command(options["port"]), env)

        url = f"http://127.0.0.1:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\ncallops is starting at {url}"))
        self.stdout.write("Demo logins (kept in var/demo-logins.json):")
        for login in logins:
            self.stdout.write(f"  {login.role.value:>8}: {login.username} / {login.password}")
        if sandbox_lines:
            self.stdout.write(f"Vendor sandbox: {sandbox_admin} (demo vendor accounts point at it)")
        self.stdout.write("Press Ctrl-C to stop everything.\n")
        self.supervisor.watch()

    def _start_worker(
        self, name: str, node: str, queues: list[str], env: dict[str, str], options: dict[str, Any]
    ) -> None:
        """A Celery worker with a liveness probe: restarted when it stops taking tasks."""
        deadline = options["worker_probe_deadline"]
        probe = LivenessProbe(
            send=lambda: self._send_probe(node, deadline),
            answered=lambda: self._probe_answered(node),
            interval=options["worker_probe_every"],
            deadline=deadline,
        )
        self._start(
            name,
            [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "--hostname", node, *queues],
            env,
            probe=probe,
            hung_signal=signal.SIGQUIT,
        )  # fmt: skip

    def _start(
        self, name: str, command: list[str], env: dict[str, str], **spec: Any
    ) -> subprocess.Popen[bytes]:
        return self.supervisor.start(
            ChildSpec(name=name, command=command, env=env, cwd=Path(settings.BASE_DIR), **spec)
        )

    def _send_probe(self, node: str, deadline: float) -> None:
        close_old_connections()  # this process lives long; a connection may have gone stale
        worker_probe_send(node=node, expires_in=deadline)

    def _probe_answered(self, node: str) -> bool:
        close_old_connections()
        return worker_probe_answered(node=node)

    def _sandbox_keys(self) -> dict[str, str]:
        """Stable demo keys, so the encrypted keys stored in the database keep working."""
        path = Path(settings.VAR_DIR) / "sandbox-keys.json"
        if path.exists():
            return json.loads(path.read_text())
        keys = {
            vendor: SANDBOX_KEY_STYLE.get(vendor, f"{vendor}-") + secrets.token_urlsafe(18)
            for vendor in SANDBOX_VENDORS
        }
        path.write_text(json.dumps(keys, indent=2))
        path.chmod(0o600)
        return keys

    def _start_sandbox(self, port: int, speed: float) -> list[dict[str, str]]:
        if not (Path(settings.BASE_DIR) / "simulators" / "__main__.py").exists():
            self.stdout.write("The vendor sandbox is not built yet; starting without it.")
            return []
        command = [sys.executable, "-m", "simulators", "--port", str(port), "--speed", str(speed)]
        for vendor, key in self._sandbox_keys().items():
            command += ["--key", f"{vendor}={key}"]
        admin_url = f"http://127.0.0.1:{port}/_sim"
        process = self._start(
            "sandbox",
            command,
            os.environ.copy(),
            capture_stdout=True,
            on_restart=lambda restarted: self._reconnect_sandbox_soon(restarted, admin_url),
        )
        lines = self._sandbox_lines(process)
        # Keep draining the sandbox's output so it never blocks on a full pipe.
        threading.Thread(target=self._echo, args=(process.stdout,), daemon=True).start()
        return lines

    def _sandbox_lines(self, process: subprocess.Popen[bytes]) -> list[dict[str, str]]:
        """The sandbox's first lines: one per vendor (its URL and key), then its admin URL."""
        lines: list[dict[str, str]] = []
        if process.stdout is None:  # for the type checker: stdout is a pipe here
            raise CommandError("The vendor sandbox has no output pipe.")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            raw = process.stdout.readline()
            if not raw:
                raise CommandError(
                    "The vendor sandbox stopped while starting; see its output above."
                )
            line = json.loads(raw)
            if "admin_url" in line:
                break
            lines.append(line)
        return lines

    def _reconnect_sandbox_soon(self, process: subprocess.Popen[bytes], admin_url: str) -> None:
        threading.Thread(
            target=self._reconnect_sandbox, args=(process, admin_url), daemon=True
        ).start()

    def _reconnect_sandbox(self, process: subprocess.Popen[bytes], admin_url: str) -> None:
        """A restarted sandbox has forgotten its webhook settings: give them again."""
        try:
            accounts = seed_sandbox_accounts(self._sandbox_lines(process))
            connect_sandbox(accounts, admin_url)
        except Exception as exc:  # the supervisor goes on; the message says what is missing
            self._say(f"The restarted sandbox was not reconnected ({exc}); webhooks may not come.")
        finally:
            close_old_connections()
        self._echo(process.stdout)

    def _echo(self, stream: Any) -> None:
        for raw in stream:
            self.stdout.write(f"[sandbox] {raw.decode(errors='replace').rstrip()}")
