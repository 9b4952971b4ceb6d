"""Webhook ingest benchmark: three endpoints side by side behind one gunicorn, a Celery worker
processing what they enqueue on the same cores, as in production.

    python bench/bench_webhook_ingest.py [--requests 1000] [--connections 10] [--rounds 3]
                                         [--before GIT_REF] [--trace] [--keep]

1. a bare Django view answering 204 (the cost of Django + gunicorn alone);
2. the minimal durable path (bench/webhook_urls.py): the durable work the real endpoint must do,
   written the plainest way: HMAC signature and timestamp check, one raw INSERT ... ON CONFLICT
   DO NOTHING of the delivery into the same inbox table under its dedupe key, and the same kick
   of the worker (one drain message per burst through the shared cache). The benchmark prints
   what it skips;
3. the real endpoint /webhooks/revrag/<token>/ (calls/webhook_views.py, calls/webhooks.py).

Each gets the same signed 20 KB `call.ended` payload (a long transcript) with a fresh event id,
from 10 keep-alive connections, driven by wrk when it is installed (apt-get install wrk; it
leaves the CPU to the server) or else by Python threads. gunicorn runs 2 workers x 8 threads,
the Celery worker --concurrency 2 (as `make run` sizes it), and it processes every stored
delivery (the minimal path's too, so the work left behind is the same whatever ran before):
lock the row, read the payload, look for its call (none here: the deliveries are unmatched).

The endpoints are measured in rotating order, --rounds times (bare/minimal/real,
minimal/real/bare, real/bare/minimal, ...), so none always runs after the same one or with the
worker's backlog of the same one; each round and the whole run are reported. Goals, in every
round: the real endpoint's throughput ≥ 0.8 × the minimal durable path's, and its p99 ≤ 1.5 ×
the minimal's p99.

--before GIT_REF adds a fourth endpoint to the rotation: the real endpoint as of that commit
(a temporary git worktree, its own gunicorn, the same database, worker and keys), to measure a
change to the endpoint before and after in the same run. --trace times every request inside
the server (bench/webhook_trace.py: CPU, time off the CPU in PostgreSQL, Redis and publishing
calls, time waiting for a core or the GIL) and prints each endpoint's median and slowest 1 %.

Full size (`make bench` runs 1,000 a round): python bench/bench_webhook_ingest.py --requests 3000

Needs PostgreSQL and Redis, the production setup (as on the development machine and in CI):
the database callops_webhook_bench on 127.0.0.1 (BENCH_DATABASE_URL overrides it) is created
fresh and dropped at the end (--keep keeps it), the broker is redis://127.0.0.1:6379/14 and the
shared cache .../13 (CELERY_BROKER_URL / REDIS_URL override them), both emptied first. Nothing
talks to anything but 127.0.0.1.
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
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"

from bench.bench_dispatcher import start_worker, stop_process  # noqa: E402 (the path first)
from bench.database import drop_database, open_worker_bench_database  # noqa: E402
from bench.summary import Goal, print_summary  # noqa: E402
from bench.webhook_trace import print_tail_breakdown, read_traces  # noqa: E402

DB_NAME = "callops_webhook_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/13"
SECRET = "bench-webhook-secret"  # noqa: S105 (signs the benchmark's own requests)
TARGET_THROUGHPUT_RATIO = 0.8  # real / minimal durable, at least, in every round
TARGET_P99_RATIO = 1.5  # real / minimal durable, at most, in every round
BARE, MINIMAL, REAL = "bare Django view (204)", "minimal durable path", "real webhook endpoint"


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


def prepare_database() -> tuple[int, str]:
    """Migrate the fresh database and make the Revrag account; return its id and token."""
    from django.core.management import call_command

    from vendors.models import VendorAccount

    call_command("migrate", verbosity=0)
    account = VendorAccount(name="Bench Revrag", kind="revrag", base_url="http://127.0.0.1:9/r")
    account.set_api_key("bench-key")
    account.set_webhook_secret(SECRET)
    account.save()
    return account.pk, account.webhook_token


def pending_deliveries() -> int:
    from calls.models import WebhookEvent, WebhookStatus

    return WebhookEvent.objects.filter(status=WebhookStatus.PENDING).count()


def wait_until_processed(timeout: float) -> float | None:
    """Seconds until the worker has processed every stored delivery; None if it has not."""
    started = time.perf_counter()
    while pending_deliveries():
        if time.perf_counter() - started > timeout:
            return None
        time.sleep(0.2)
    return time.perf_counter() - started


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


@dataclass
class Measured:
    """One endpoint's figures, for a round or (merged) for the whole run."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # empty with wrk (it gives p50/p99)
    backlog: int | None = None  # deliveries the worker had not processed yet at its end

    @classmethod
    def merged(cls, rounds: list[Measured]) -> Measured:
        requests, seconds = sum(m.requests for m in rounds), sum(m.seconds for m in rounds)
        latencies = [value for m in rounds for value in m.latencies]
        if latencies:
            p50_ms, p99_ms = statistics.median(latencies), p99(latencies)
        else:  # wrk: the rounds' medians and the worst round's p99
            p50_ms = statistics.median(m.p50_ms for m in rounds)
            p99_ms = max(m.p99_ms for m in rounds)
        return cls(requests / seconds, p50_ms, p99_ms, requests, seconds, latencies)


def measure(port: int, path: str, body: bytes, args: argparse.Namespace, label: str) -> Measured:
    if shutil.which("wrk"):
        rps, p50_ms, p99_ms = wrk_run(port, path, body, args.seconds, args.connections, label)
        return Measured(rps, p50_ms, p99_ms, round(rps * args.seconds), args.seconds)
    started = time.perf_counter()
    rps, latencies = hammer(port, path, body, args.requests, args.connections, label)
    seconds = time.perf_counter() - started
    return Measured(
        rps, statistics.median(latencies), p99(latencies), len(latencies), seconds, latencies
    )


def short(label: str) -> str:
    """bare, minimal, real, or real@<ref> for --before's."""
    return {BARE: "bare", MINIMAL: "minimal", REAL: "real"}.get(
        label, "real@" + label.rsplit(" ", 1)[-1]
    )


def rotated_orders(endpoints: list, rounds: int) -> list[list]:
    """bare/minimal/real, minimal/real/bare, real/bare/minimal, then again."""
    size = len(endpoints)
    return [endpoints[n % size :] + endpoints[: n % size] for n in range(rounds)]


def print_row(label: str, figures: Measured) -> None:
    backlog = "" if figures.backlog is None else f"   worker backlog after it {figures.backlog:,}"
    print(
        f"    {label:<28} {figures.rps:8.0f} req/s   p50 {figures.p50_ms:6.1f} ms   "
        f"p99 {figures.p99_ms:6.1f} ms{backlog}"
    )


def ratios(
    figures: dict[str, Measured], real: str = REAL, to: str = MINIMAL
) -> tuple[float, float]:
    """`real` / `to` (the minimal durable path): throughput and p99."""
    return figures[real].rps / figures[to].rps, figures[real].p99_ms / figures[to].p99_ms


def print_ratios(figures: dict[str, Measured], before: str | None) -> None:
    throughput, tail = ratios(figures)
    print(f"    real / minimal durable: throughput {throughput:.2f}, p99 {tail:.2f}")
    if before:
        throughput, tail = ratios(figures, to=before)
        print(f"    real / {before}: throughput {throughput:.2f}, p99 {tail:.2f}")


def run_rounds(
    servers: dict[str, int], token: str, args: argparse.Namespace
) -> list[dict[str, Measured]]:
    """Every endpoint --requests times a round, in rotating order; `servers` maps a label to
    its gunicorn's port (the real endpoint as of --before has one of its own)."""
    body = json.dumps(payload()).encode()
    real_path = f"/webhooks/revrag/{token}/"
    paths = {BARE: "/bench/bare/", MINIMAL: "/bench/minimal/", REAL: real_path}
    endpoints = [(label, port, paths.get(label, real_path)) for label, port in servers.items()]
    for _label, port, path in endpoints:  # warm-up: connections, imports, caches, the worker
        hammer(port, path, body, args.connections * 20, args.connections, "warmup")
    if wait_until_processed(timeout=120) is None:
        raise SystemExit("the Celery worker did not process the warm-up deliveries in 120 s")
    if args.trace:  # forget the warm-up (the servers append to these files)
        for file in Path(args.trace_folder).glob("*.tsv"):
            file.write_text("")
    driver = (
        f"wrk, {args.seconds} s each" if shutil.which("wrk") else
        f"Python threads, {args.requests} requests each"
    )  # fmt: skip
    print(f"payload {len(body) / 1024:.1f} KB, {args.connections} connections ({driver}), "
          "gunicorn 2 workers x 8 threads, a Celery worker (2 processes) beside it")  # fmt: skip
    from bench.webhook_urls import MINIMAL_SKIPS  # after Django's setup (it imports the URLs)

    print("the minimal durable path skips: " + "; ".join(MINIMAL_SKIPS))
    before = next((label for label in servers if label not in paths), None)
    rounds = []
    for number, order in enumerate(rotated_orders(endpoints, args.rounds), start=1):
        print(f"  round {number} ({' / '.join(short(label) for label, _, _ in order)}):")
        figures = {}
        for label, port, path in order:
            figures[label] = measure(port, path, body, args, f"r{number}-{short(label)}")
            figures[label].backlog = pending_deliveries()
            print_row(label, figures[label])
        print_ratios(figures, before)
        rounds.append(figures)
    return rounds


def start_server(env: dict[str, str], tree: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn serving bench/webhook_settings.py from `tree` (this checkout or --before's)."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "bench.webhook_settings:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread",
         "--threads", "8", "--log-level", "warning"],
        env={**env, "PYTHONPATH": str(tree)}, cwd=tree, start_new_session=True,
    )  # fmt: skip
    return process, port


def checkout(ref: str, folder: str) -> Path:
    """A detached worktree of `ref`, to serve the real endpoint as it was there."""
    tree = Path(folder) / "before"
    subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],  # noqa: S607
        check=True, capture_output=True,
    )  # fmt: skip
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per endpoint and round")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per endpoint and round, wrk")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="time each request's CPU, SQL, Redis and publishing inside the server and print "
        "where the slowest 1 %% spend it (bench/webhook_trace.py; its own cost is measured too)",
    )
    parser.add_argument(
        "--before",
        metavar="GIT_REF",
        help="also measure the real endpoint as of this commit (its own gunicorn, same database "
        "and worker; the schema must be the same) in the rotation: a change's before and after",
    )
    args = parser.parse_args()

    opened = open_worker_bench_database(
        DB_NAME, default_broker=DEFAULT_BROKER_URL, default_cache=DEFAULT_CACHE_URL
    )
    if opened is None:
        return
    url, env = opened
    account_id, token = prepare_database()
    folder = tempfile.mkdtemp(prefix="callops-bench-webhook-")
    processes = start_worker(env, folder, beat=False, name="bench-webhook")
    # Both servers read the same keys (var/ of this checkout) to decrypt the account's secret.
    server_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.webhook_settings",
                  "CALLOPS_VAR_DIR": os.environ.get("CALLOPS_VAR_DIR", str(ROOT / "var")),
                  "BENCH_WEBHOOK_ACCOUNT_ID": str(account_id),
                  "BENCH_WEBHOOK_SECRET": SECRET}  # fmt: skip
    if args.trace:
        args.trace_folder = server_env["BENCH_WEBHOOK_TRACE"] = str(Path(folder) / "traces")
        Path(args.trace_folder).mkdir()
    server, port = start_server(server_env, ROOT)
    processes.append(server)
    servers = {BARE: port, MINIMAL: port, REAL: port}
    before_tree = None
    finished = False
    try:
        if args.before:
            before_tree = checkout(args.before, folder)
            untraced = {k: v for k, v in server_env.items() if k != "BENCH_WEBHOOK_TRACE"}
            before_server, before_port = start_server(untraced, before_tree)
            processes.append(before_server)
            servers[f"real endpoint at {args.before}"] = before_port
            wait_for(before_port)
        wait_for(port)
        rounds = run_rounds(servers, token, args)
        stored = sum(
            m.requests for figures in rounds for label, m in figures.items() if label != BARE
        )
        left = pending_deliveries()
        drained = wait_until_processed(timeout=600)
        traces = read_traces(args.trace_folder) if args.trace else None
        finished = True
    finally:
        for process in processes:
            stop_process(process, group=True)
        if before_tree is not None:
            subprocess.run(  # noqa: S603
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before_tree)],  # noqa: S607
                check=False,
            )  # fmt: skip
        if finished:
            shutil.rmtree(folder, ignore_errors=True)  # the worker's log, kept after a failure
        else:
            print(f"the worker's log: {folder}/worker.log")
    report(rounds, stored, left, drained)
    if traces is not None:
        print_tail_breakdown(
            traces,
            {"/bench/bare/": BARE, "/bench/minimal/": MINIMAL, f"/webhooks/revrag/{token}/": REAL},
        )

    from django.db import connection

    connection.close()
    if not args.keep:
        drop_database(url)


def report(
    rounds: list[dict[str, Measured]], stored: int, left: int, drained: float | None
) -> None:
    whole = {label: Measured.merged([figures[label] for figures in rounds]) for label in rounds[0]}
    print(f"  whole run ({len(rounds)} rounds):")
    for label, figures in whole.items():
        print_row(label, figures)
    before = next((label for label in whole if label not in (BARE, MINIMAL, REAL)), None)
    print_ratios(whole, before)
    throughput, tail = ratios(whole)
    print(
        f"worker: {stored:,} deliveries stored by the durable endpoints; "
        + (f"the last {left:,} processed {drained:.1f} s after the load stopped"
           if drained is not None else "NOT all processed 600 s after the load stopped")
    )  # fmt: skip
    per_round = [ratios(figures) for figures in rounds]
    worst_throughput = min(value for value, _ in per_round)
    worst_tail = max(value for _, value in per_round)
    print(
        "real / minimal durable per round: throughput "
        + ", ".join(f"{value:.2f}" for value, _ in per_round)
        + f" (goal ≥ {TARGET_THROUGHPUT_RATIO} in each); p99 "
        + ", ".join(f"{value:.2f}" for _, value in per_round)
        + f" (goal ≤ {TARGET_P99_RATIO} in each)"
    )
    print_summary(
        "webhook ingest",
        [
            Goal("worst round real / minimal durable throughput", worst_throughput,
                 TARGET_THROUGHPUT_RATIO, at_most=False),
            Goal("worst round real / minimal durable p99", worst_tail, TARGET_P99_RATIO),
            Goal("whole run real / minimal durable throughput", throughput,
                 TARGET_THROUGHPUT_RATIO, at_most=False),
            Goal("whole run real / minimal durable p99", tail, TARGET_P99_RATIO),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
