"""`make run`: everything callops needs on one machine, stopped together by Ctrl-C.

Migrates, starts the vendor sandbox, seeds demo data that points at it, then runs the web server,
a Celery worker and Celery beat as child processes. Each child gets its own session so Ctrl-C
reaches only this supervisor, which then stops the children in order and waits for them.
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

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.demo import (
    connect_sandbox,
    seed_contacts,
    seed_post_call_rule,
    seed_sandbox_accounts,
    seed_users,
)

SANDBOX_VENDORS = ("revrag", "voice_platform", "revont", "callcov", "revor")
SANDBOX_KEY_STYLE = {"callcov": "sk_test_", "revor": "sk-revor-"}


class Command(BaseCommand):
    help = "Run the web server, a Celery worker, Celery beat and the vendor sandbox together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8100)
        parser.add_argument(
            "--sandbox-speed",
            type=float,
            default=4.0,
            help="How much faster than real time sandbox calls progress (default 4).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        # Both set explicitly: a shell that starts us in the background ignores SIGINT, and
        # Python then leaves it ignored.
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._run(options)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_children()

    def _on_signal(self, signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def _run(self, options: dict[str, Any]) -> None:
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        logins = seed_users()
        seed_contacts()

        sandbox_lines = self._start_sandbox(options["sandbox_port"], options["sandbox_speed"])
        if sandbox_lines:
            accounts = seed_sandbox_accounts(sandbox_lines)
            connect_sandbox(accounts, f"http://127.0.0.1:{options['sandbox_port']}/_sim")
            seed_post_call_rule(accounts)

        python = sys.executable
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._spawn(
            "worker",
            [python, "-m", "celery", "-A", "dashboard", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "--hostname", "callops-worker@%h"],
            env,
        )  # fmt: skip
        self._spawn(
            "beat",
            [python, "-m", "celery", "-A", "dashboard", "beat", "--loglevel", "INFO",
             "--schedule", str(var_dir / "celerybeat-schedule")],
            env,
        )  # fmt: skip
        self._spawn(
            "web",
            [python, "-m", "gunicorn", "dashboard.wsgi", "--bind", f"127.0.0.1:{options['port']}",
             "--workers", "2", "--threads", "4", "--access-logfile", "-",
             "--logger-class", "dashboard.log_redaction.RedactingGunicornLogger"],
            env,
        )  # fmt: skip

        url = f"http://127.0.0.1:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\ncallops is starting at {url}"))
        self.stdout.write("Demo logins (kept in var/demo-logins.json):")
        for login in logins:
            self.stdout.write(f"  {login.role.value:>8}: {login.username} / {login.password}")
        if sandbox_lines:
            admin = f"http://127.0.0.1:{options['sandbox_port']}/_sim"
            self.stdout.write(f"Vendor sandbox: {admin} (demo vendor accounts point at it)")
        self.stdout.write("Press Ctrl-C to stop everything.\n")
        self._watch()

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
        process = self._spawn("sandbox", command, os.environ.copy(), capture_stdout=True)
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
        # Keep draining the sandbox's output so it never blocks on a full pipe.
        threading.Thread(target=self._echo, args=(process.stdout,), daemon=True).start()
        return lines

    def _echo(self, stream: Any) -> None:
        for raw in stream:
            self.stdout.write(f"[sandbox] {raw.decode(errors='replace').rstrip()}")

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str], *, capture_stdout: bool = False
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command,
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE if capture_stdout else None,
            start_new_session=True,
        )
        self.children.append((name, process))
        return process

    def _watch(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"The {name} process exited with code {process.returncode}.")
            time.sleep(0.5)

    def _stop_children(self) -> None:
        # Web first (no new work), then beat, worker (finishes its task) and the sandbox last.
        for _name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.children.clear()
