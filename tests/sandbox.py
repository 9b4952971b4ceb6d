"""The vendor sandbox as a real subprocess, and helpers to point vendor accounts at it.

Loaded as a pytest plugin by tests/conftest.py, so every test folder can use `sandbox`.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from vendors.models import VendorAccount, VendorKind
from vendors.ratelimit import DEFAULT_RATE_LIMITS

REPO_ROOT = Path(__file__).resolve().parents[1]
SANDBOX_SPEED = 50
# The sandbox's account-wide Revor window (an undocumented number; docs/vendor-readings.md).
REVOR_ACCOUNT_LIMIT = {"limit": 120, "window_seconds": 60}


@dataclass(frozen=True)
class SandboxVendor:
    base_url: str
    api_key: str


@dataclass
class Sandbox:
    vendors: dict[str, SandboxVendor]
    admin_url: str
    changed_rate_limits: set[tuple[str, str]] = field(default_factory=set)

    def post(self, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(f"{self.admin_url}/{action}", json=payload or {}, timeout=10)
        response.raise_for_status()
        return response.json()

    def get(self, action: str, **params: Any) -> dict[str, Any]:
        response = requests.get(f"{self.admin_url}/{action}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.post("reset")
        # Rate limit overrides outlive /_sim/reset: put back the documented ones.
        for vendor, group in sorted(self.changed_rate_limits):
            if vendor == "revor" and group == "account":
                self.post("rate_limits", {"vendor": vendor, "group": group, **REVOR_ACCOUNT_LIMIT})
                continue
            default = DEFAULT_RATE_LIMITS[vendor][group]
            self.post(
                "rate_limits",
                {
                    "vendor": vendor,
                    "group": group,
                    "limit": default.limit,
                    "window_seconds": default.window_seconds,
                },
            )
        self.changed_rate_limits.clear()

    def faults(self, vendor: str, **faults: Any) -> None:
        self.post("faults", {"vendor": vendor, **faults})

    def set_rate_limit(
        self, vendor: str, limit: int, window_seconds: float, group: str = "default"
    ) -> None:
        self.changed_rate_limits.add((vendor, group))
        self.post(
            "rate_limits",
            {"vendor": vendor, "group": group, "limit": limit, "window_seconds": window_seconds},
        )

    def log(self, vendor: str, **filters: Any) -> list[dict[str, Any]]:
        return self.get("log", vendor=vendor, **filters)["items"]

    def state(self, vendor: str) -> dict[str, Any]:
        return self.get(f"state/{vendor}")


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[Sandbox]:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "--port", "0", "--speed", str(SANDBOX_SPEED)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        vendors: dict[str, SandboxVendor] = {}
        admin_url = ""
        while not admin_url:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("The sandbox exited before printing its URLs.")
            record = json.loads(line)
            if "admin_url" in record:
                admin_url = record["admin_url"]
            else:
                vendors[record["vendor"]] = SandboxVendor(record["base_url"], record["api_key"])
        yield Sandbox(vendors=vendors, admin_url=admin_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def sandbox(sandbox_process: Sandbox) -> Iterator[Sandbox]:
    """A clean sandbox for each test: no resources, logs, faults or changed limits."""
    sandbox_process.reset()
    yield sandbox_process
    sandbox_process.reset()


@pytest.fixture
def make_account(db: None, sandbox: Sandbox) -> Callable[..., VendorAccount]:
    def make(
        kind: str, *, api_key: str | None = None, rate_limits: dict[str, Any] | None = None
    ) -> VendorAccount:
        vendor = sandbox.vendors[kind]
        account = VendorAccount(
            kind=VendorKind(kind),
            name=f"Sandbox {kind} {VendorAccount.objects.count()}",
            base_url=vendor.base_url,
            rate_limits=rate_limits or {},
        )
        account.set_api_key(api_key if api_key is not None else vendor.api_key)
        account.save()
        return account

    return make


class WebhookReceiver:
    """A local HTTP endpoint that stores every delivery (headers and raw body) it gets."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries.put((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 15.0) -> tuple[dict[str, str], bytes]:
        return self.deliveries.get(timeout=timeout)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
