"""Webhook ingest benchmark: three endpoints side by side behind one gunicorn.

    python bench/bench_webhook_ingest.py [--requests 3000] [--connections 10]

1. a bare Django view answering 204 (the cost of Django + gunicorn alone);
2. the minimal durable path: parse the JSON, one raw INSERT ... ON CONFLICT DO NOTHING;
3. the real endpoint /webhooks/revrag/<token>/: signature check over the raw body, raw insert
   with its dedupe key, processing enqueued on commit (Redis broker), 200.

Each gets the same signed 20 KB `call.ended` payload (a long transcript) with a fresh event id,
from 10 keep-alive connections, driven by wrk when it is installed (apt-get install wrk; it
leaves the CPU to the server) or else by Python threads. Targets: the real endpoint ≥ 0.7 ×
the minimal durable path's throughput, and its p99 ≤ 50 ms.

Needs PostgreSQL and Redis, the production setup (as on the development machine and in CI):
DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/callops_webhook_bench (created and
migrated if missing), the broker to redis://127.0.0.1:6379/14 and the shared cache to .../13.
Nothing talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.summary import Goal, print_summary  # noqa: E402 (the path first)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/callops_webhook_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/13"
SECRET = "bench-webhook-secret"  # noqa: S105 (signs the benchmark's own requests)
TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0


def payload(size: int = 20_000) -> dict:
    turns = []
    line = 0
    while len(json.dumps(turns)) < size - 1500:
        speaker = "agent" if line % 2 == 0 else "user"
        text = f"Turn {line}: thanks for taking the time, we talked about the renewal terms."
        start = line * 3.0
        turns.append(
            {"role": speaker, "content": text, "start_time": start, "end_time": start + 2.5}
        )
        line += 1
    return {
        "call_id": "bench-call",
        "call_status": "ENDED",
        "agent_id": "bench-agent",
        "to_number": "+14155550100",
        "summary": "A long conversation about renewal terms.",
        "duration": 600,
        "disconnection_reason": "AGENT_HANGUP",
        "transcription": {"messages": turns},
        "custom_variables": [{"name": "interested", "value": True}],
    }


def prepare_database(env: dict[str, str]) -> str:
    """Migrate the bench database, make the bench table and a Revrag account; return its token."""
    script = """
import django, os
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)
with connection.cursor() as cursor:
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS bench_webhook_minimal "
        "(id bigserial PRIMARY KEY, dedupe_key text UNIQUE, body text)"
    )
    cursor.execute("TRUNCATE bench_webhook_minimal")
    cursor.execute("DELETE FROM calls_webhookevent")
from vendors.models import VendorAccount
account = VendorAccount.objects.filter(name="Bench Revrag").first() or VendorAccount(
    name="Bench Revrag", kind="revrag", base_url="http://127.0.0.1:9/revrag")
account.set_api_key("bench-key")
account.set_webhook_secret(os.environ["BENCH_WEBHOOK_SECRET"])
account.save()
print(account.webhook_token)
"""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        env={**env, "BENCH_WEBHOOK_SECRET": SECRET},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"could not prepare the bench database:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    subprocess.run(  # noqa: S603
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", name],  # noqa: S607
        capture_output=True,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def signed_headers(body: bytes, event_id: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Webhook-Event": "call.ended",
        "X-Webhook-ID": event_id,
        "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Signature": f"t={timestamp},v1={signature.hexdigest()}",
    }


def hammer(port: int, path: str, body: bytes, total: int, connections: int, label: str):
    """`total` POSTs over `connections` keep-alive connections; returns (rps, latencies ms)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    per_connection = total // connections

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for n in range(per_connection):
            headers = signed_headers(body, f"{label}-{index}-{n}-{time.monotonic_ns()}")
            started = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status >= 300:
                errors.append(f"{response.status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{label}: {len(errors)} failed requests, e.g. HTTP {errors[0]}")
    return len(latencies) / elapsed, latencies


LUA_TEMPLATE = """
-- Generated by bench_webhook_ingest.py: cycles through pre-signed deliveries.
local body = {body}
local signed = {{
{rows}
}}
local n = 0
request = function()
  n = n + 1
  local row = signed[(n % #signed) + 1]
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  headers["X-Webhook-Event"] = "call.ended"
  headers["X-Webhook-ID"] = row[1]
  headers["X-Webhook-Timestamp"] = row[2]
  headers["X-Webhook-Signature"] = row[3]
  return wrk.format("POST", "{path}", headers, body)
end
"""


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk_run(port: int, path: str, body: bytes, seconds: int, connections: int, label: str):
    """wrk (C, light on CPU) drives the load; returns (rps, p50 ms, p99 ms)."""
    rows = []
    for n in range(20_000):
        headers = signed_headers(body, f"{label}-{n}-{time.monotonic_ns()}")
        rows.append(
            "  {"
            + ", ".join(
                lua_string(headers[name])
                for name in ("X-Webhook-ID", "X-Webhook-Timestamp", "X-Webhook-Signature")
            )
            + "},"
        )
    script = LUA_TEMPLATE.format(body=lua_string(body.decode()), rows="\n".join(rows), path=path)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    result = subprocess.run(  # noqa: S603
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name,  # noqa: S607
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    os.unlink(handle.name)
    output = result.stdout
    if "Non-2xx" in output:
        raise SystemExit(f"{label}: some requests failed:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rps, _wrk_ms(output, "50%"), _wrk_ms(output, "99%")


def _wrk_ms(output: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10, help="per endpoint, with wrk")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not database_url.startswith("postgres"):
        raise SystemExit("This benchmark compares against a raw PostgreSQL insert: use PostgreSQL.")
    ensure_database(database_url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.webhook_settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER_URL),
        "REDIS_URL": os.environ.get("REDIS_URL", DEFAULT_CACHE_URL),
        "PYTHONPATH": str(ROOT),
    }
    token = prepare_database(env)
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "bench.webhook_settings:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread",
         "--threads", "8", "--log-level", "warning"],
        env=env, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(port)
        body = json.dumps(payload()).encode()
        endpoints = [
            ("bare Django view (204)", "/bench/bare/"),
            ("minimal durable path", "/bench/minimal/"),
            ("real webhook endpoint", f"/webhooks/revrag/{token}/"),
        ]
        for _label, path in endpoints:  # warm-up: connections, imports, caches
            hammer(port, path, body, args.connections * 20, args.connections, "warmup")
        results = {}
        use_wrk = shutil.which("wrk") is not None
        for label, path in endpoints:
            if use_wrk:
                results[label] = wrk_run(port, path, body, args.seconds, args.connections, label)
            else:
                rps, latencies = hammer(port, path, body, args.requests, args.connections, label)
                results[label] = (rps, statistics.median(latencies), p99(latencies))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)

    driver = f"wrk, {args.seconds} s each" if use_wrk else f"Python, {args.requests} requests each"
    print(f"payload {len(body) / 1024:.1f} KB, {args.connections} connections ({driver}), "
          "gunicorn 2 workers x 8 threads")  # fmt: skip
    for label, (rps, p50_ms, p99_ms) in results.items():
        print(f"  {label:<24} {rps:8.0f} req/s   p50 {p50_ms:6.1f} ms   p99 {p99_ms:6.1f} ms")
    real_rps, _, real_p99 = results["real webhook endpoint"]
    minimal_rps, _, minimal_p99 = results["minimal durable path"]
    ratio = real_rps / minimal_rps
    print(f"real / minimal durable throughput: {ratio:.2f}  (target ≥ {TARGET_RATIO})")
    print(f"real endpoint p99: {real_p99:.1f} ms  (target ≤ {TARGET_P99_MS:.0f} ms)")
    print_summary(
        "webhook ingest",
        [
            Goal("real / minimal durable throughput", ratio, 0.8, at_most=False),
            Goal("real / minimal durable p99", real_p99 / minimal_p99, 1.5),
            Goal("real p99", real_p99, TARGET_P99_MS, unit="ms"),
        ],
    )


if __name__ == "__main__":
    main()
