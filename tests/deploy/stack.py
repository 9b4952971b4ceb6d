"""A production-shaped callops on this machine, every role its own process.

PostgreSQL and Redis are the ones the test run was given (DATABASE_URL, REDIS_URL): the stack
gets a fresh database of its own on that server (created here, dropped at the end) and an
empty Redis database number of its own (claimed, emptied at the end), so it never touches
pytest's test database or another run's broker. Every process is started in its own session
and stopped, with its children, in `stop()`; each writes its output to a file that a failing
test shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import redis
import requests
from cryptography.fernet import Fernet

from tests.sandbox import REPO_ROOT

# Redis database numbers the stack may claim (0 and 1 are CI's broker and cache, 6 and 7 the
# dispatcher benchmark's).
REDIS_DATABASES = range(15, 7, -1)
CLAIM_KEY = "callops-deployment-test"


def free_port() -> int:
    """A port nobody listens on now (the OS picks it; the server binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _with_path(url: str, path: str) -> str:
    return urlunparse(urlparse(url)._replace(path=path))


@dataclass
class Process:
    name: str
    command: list[str]
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class Stack:
    folder: Path
    server_url: str  # the PostgreSQL server pytest was given
    redis_server_url: str
    database_name: str = field(default_factory=lambda: f"callops_deploy_{os.getpid()}")
    database_url: str = ""
    redis_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    sandbox: dict[str, dict] = field(default_factory=dict)
    sandbox_admin: str = ""
    web_urls: list[str] = field(default_factory=list)

    # --- the database and the broker of this stack only ---------------------------------------

    def _admin_connection(self) -> psycopg.Connection:
        return psycopg.connect(_with_path(self.server_url, "/postgres"), autocommit=True)

    def create_database(self) -> None:
        with self._admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.database_name}"')
        self.database_url = _with_path(self.server_url, f"/{self.database_name}")

    def drop_database(self) -> None:
        with self._admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')

    def claim_redis_database(self) -> None:
        for number in REDIS_DATABASES:
            url = _with_path(self.redis_server_url, f"/{number}")
            client = redis.Redis.from_url(url)
            # Empty, and ours from now on: a second run on this machine takes the next one.
            if client.dbsize() == 0 and client.set(CLAIM_KEY, os.getpid(), nx=True):
                self.redis_url = url
                return
        raise AssertionError(f"no empty Redis database among {list(REDIS_DATABASES)}")

    def release_redis_database(self) -> None:
        if self.redis_url:
            redis.Redis.from_url(self.redis_url).flushdb()

    def sql(self, query: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(query, params).fetchall()

    def count(self, query: str, *params: object) -> int:
        return self.sql(query, *params)[0][0]

    def wait(self, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
        """wait_until, and on a timeout the end of every process's output."""
        try:
            wait_until(condition, timeout=timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.tails()}") from None

    # --- processes -----------------------------------------------------------------------------

    def prepare_env(self, *, public_url: str, lease_seconds: int) -> None:
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PYTEST", "PROMETHEUS_MULTIPROC", "CELERY_", "DJANGO"))
        }
        self.env = {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.redis_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "CALLOPS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "CALLOPS_VAR_DIR": str(self.folder / "var"),
            "CALLOPS_PUBLIC_URL": public_url,
            "CALLOPS_LOG_FORMAT": "text",
            "LOG_LEVEL": "WARNING",
            "CALLOPS_DISPATCH_LEASE_SECONDS": str(lease_seconds),
        }

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.folder / f"{name}.log"
        with open(log, "ab") as output:
            popen = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env or self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a kill reaches its pool processes too
            )
        self.processes[name] = Process(name, command, popen, log)
        return self.processes[name]

    def run(self, name: str, command: list[str], *, timeout: float) -> str:
        """A one-off command of the stack (migrate, seed): its output, or a failure naming it."""
        done = subprocess.run(
            command, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def start_sandbox(self, *, speed: float) -> None:
        process = self.start(
            "sandbox",
            [sys.executable, "-m", "simulators", "--port", "0", "--speed", str(speed)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

        def printed_its_urls() -> bool:
            try:
                lines = [json.loads(line) for line in process.log.read_text().splitlines()]
            except ValueError:  # a line half written
                return False
            admin = [line["admin_url"] for line in lines if "admin_url" in line]
            self.sandbox = {line["vendor"]: line for line in lines if "vendor" in line}
            self.sandbox_admin = admin[0] if admin else ""
            if process.popen.poll() is not None:
                raise AssertionError(f"the sandbox exited:\n{self.tail('sandbox')}")
            return bool(self.sandbox_admin)

        wait_until(printed_its_urls, timeout=30, what="the sandbox")

    def start_web(self, name: str, port: int) -> None:
        self.start(
            name,
            [sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "120",
             # Two servers of one user would share gunicorn's default control socket path.
             "--no-control-socket",
             "--logger-class", "dashboard.log_redaction.RedactingGunicornLogger"],
        )  # fmt: skip
        self.web_urls.append(f"http://127.0.0.1:{port}")

    def start_worker(self, name: str, *, queues: tuple[str, ...] = ()) -> Process:
        """A Celery worker; with `queues`, one that consumes only those (`-Q`)."""
        only = ["--queues", ",".join(queues)] if queues else []
        return self.start(
            name,
            [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--concurrency", "2",
             "--loglevel", "WARNING", "--hostname", f"{name}-{os.getpid()}@%h", *only],
        )  # fmt: skip

    def start_beat(self) -> None:
        self.start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "dashboard", "beat", "--loglevel", "WARNING",
             "--schedule", str(self.folder / "celerybeat-schedule")],
        )  # fmt: skip

    def kill(self, name: str) -> None:
        """SIGKILL: the worker and its pool processes die at once, acknowledging nothing."""
        popen = self.processes[name].popen
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=30)

    def wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            for name, process in self.processes.items():
                if process.popen.poll() is not None:
                    raise AssertionError(f"{name} exited:\n{self.tail(name)}")
            try:
                return all(
                    requests.get(f"{url}/readyz", timeout=5).status_code == 200
                    for url in self.web_urls
                )
            except requests.RequestException:
                return False

        self.wait(ready, timeout=timeout, what="both web servers to be ready (/readyz)")

    def tail(self, name: str, chars: int = 3000) -> str:
        process = self.processes.get(name)
        if process is None or not process.log.exists():
            return ""
        return process.log.read_text(errors="replace")[-chars:]

    def tails(self) -> str:
        return "\n".join(f"--- {name}\n{self.tail(name, 1500)}" for name in self.processes)

    def stop(self) -> None:
        """Every process and its children: SIGTERM to each main process (a worker stops its
        own pool), then SIGKILL to whatever of its group is left after 15 s."""
        for process in self.processes.values():
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in self.processes.values():
            try:
                process.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=15)
            # A killed worker's pool processes live on in its group until the group is gone.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGKILL)
