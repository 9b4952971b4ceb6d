"""Conversation metrics benchmark: measuring stored transcripts against merely reading them.

    python bench/bench_conversation_metrics.py [--calls 1000000] [--rounds 2] [--reuse] [--keep]

Full size (issue 21): 1,000,000 transcripts, the default. A quick run: `--calls 100000` (or
BENCH_CONVERSATION_CALLS=100000 in the environment).

Creates (drops first) the database `bench_conversation` on 127.0.0.1 as postgres (override with
BENCH_DATABASE_URL), migrates it, and fills it with `INSERT ... SELECT generate_series`: --calls
ended calls, each with a transcript of 4-33 timed lines (18.5 on average, as a 2-minute call)
drawn from a pool of sales-call lines, whose times leave gaps, long silences and overlaps. Then,
--rounds times each, in turn:

- **read**: every transcript read as the recompute command reads them (the ORM, keyset
  batches of 2,000 by call id, JSON decoded, the next batches read ahead by a thread), and
  nothing else;
- **measure**: the same reads, and each transcript measured (calls/conversation.py) while the
  next batches are read, as the recompute command does before it stores;
- **recompute**: the whole `recompute_conversation_metrics` path: read, measure and upsert the
  rows (once, at the end: for the record, the target is on measuring).

It prints each side's calls per second, and the ratio measure / read against the target ≥ 0.5.
--reuse keeps an already filled database; --keep leaves it in place at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"

from bench.bench_call_log import (  # noqa: E402 (the path above first)
    AGENT_LINES,
    CUSTOMER_LINES,
    _sql_array,
)
from bench.database import drop_database, open_bench_database  # noqa: E402
from bench.summary import Goal, print_summary  # noqa: E402

RATIO_TARGET = 0.5
DB_NAME = "bench_conversation"

AGENT_SQL, CUSTOMER_SQL = _sql_array(AGENT_LINES), _sql_array(CUSTOMER_LINES)
# Line t starts about 6 s after line t-1 (jitter 0-1.5 s) and lasts 2-7 s: most lines leave a
# gap, some overlap the next one, and one line in 25 comes after a 3-8 s silence.
CALLS_SQL = f"""
INSERT INTO calls_call (vendor_account_id, agent_id, to_number, from_number, state, outcome,
    vendor_outcome, error_message, vendor_call_id, vendor_status, idempotency_key, request_key,
    dispatch_attempts, sync_failures, is_stale, last_payload, variables, metadata, summary,
    transcript, extracted_variables, recording_url, duration_seconds, created_at, started_at,
    ended_at)
SELECT %(account)s, %(agent)s, '+1415' || lpad(n::text, 7, '0'), '', 'ended', 'completed',
    'AGENT_HANGUP', '', 'bench-' || n, 'ENDED', gen_random_uuid(), '', 1, 0, false,
    '{{}}'::jsonb, '{{}}'::jsonb, '{{}}'::jsonb, '',
    (SELECT jsonb_agg(jsonb_build_object(
        'speaker', CASE WHEN t %% 2 = 0 THEN 'agent' ELSE 'customer' END,
        'text', CASE WHEN t %% 2 = 0
            THEN ({AGENT_SQL})[1 + floor(random() * {len(AGENT_LINES)})::int]
            ELSE ({CUSTOMER_SQL})[1 + floor(random() * {len(CUSTOMER_LINES)})::int] END,
        'start', round(s::numeric, 2), 'end', round((s + 2 + random() * 5)::numeric, 2))
        ORDER BY t)
     FROM (SELECT t, t * 6.0 + random() * 1.5
                 + CASE WHEN (n + t) %% 25 = 0 THEN 3 + random() * 5 ELSE 0 END AS s
           FROM generate_series(0, 3 + n %% 30) AS t) AS lines),
    '{{}}'::jsonb, '', 120, now() - n * interval '1 second', now(), now()
FROM generate_series(1, %(calls)s) AS n
"""  # noqa: S608 (built from this module's constant word lists)


def fill(calls: int) -> None:
    from django.db import connection

    from calls.models import Agent
    from vendors.models import VendorAccount

    account = VendorAccount.objects.create(
        kind="revrag",
        name="Bench account",
        base_url="http://127.0.0.1:9/revrag",
        api_key_encrypted="",
        api_key_mask="",
    )
    agent = Agent.objects.create(vendor_account=account, vendor_agent_id="agent-0", name="Agent")
    with connection.cursor() as cursor:
        cursor.execute(CALLS_SQL, {"calls": calls, "account": account.pk, "agent": agent.pk})
        cursor.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls",
        type=int,
        default=int(os.environ.get("BENCH_CONVERSATION_CALLS", "1000000")),
        help="stored transcripts (default 1,000,000, or BENCH_CONVERSATION_CALLS)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="read and measure this many times")
    parser.add_argument("--reuse", action="store_true", help="use the filled database as it is")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()

    url = open_bench_database(DB_NAME, reuse=args.reuse)
    if url is None:
        return
    from django.core.management import call_command
    from django.db import connection

    from calls.conversation_metrics import (
        conversation_recompute,
        measured_batches,
        transcript_batches,
    )
    from calls.models import Call, CallConversation, CallState

    call_command("migrate", verbosity=0)
    if not Call.objects.exists():
        started = time.perf_counter()
        fill(args.calls)
        print(f"filled in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), avg(jsonb_array_length(transcript)), "
            "pg_size_pretty(pg_total_relation_size('calls_call')) FROM calls_call"
        )
        count, lines, size = cursor.fetchone()
    print(f"database: {connection.settings_dict['NAME']}; calls: {count:,} ({size})")
    print(f"transcript lines per call: {float(lines):.1f} on average")

    ended = Call.objects.filter(state=CallState.ENDED)
    batch_size = 2000

    def read() -> int:
        """What measuring reads, the same way (the same reader), and nothing more."""
        return sum(len(batch) for batch in transcript_batches(ended, batch_size=batch_size))

    def measure() -> int:
        return sum(len(batch) for batch in measured_batches(ended, batch_size=batch_size))

    def timed(work) -> tuple[int, float]:
        started = time.perf_counter()
        rows = work()
        return rows, time.perf_counter() - started

    read_rates, measure_rates = [], []
    for round_number in range(1, args.rounds + 1):
        rows, seconds = timed(read)
        read_rates.append(rows / seconds)
        print(
            f"round {round_number}: read    {rows:,} in {seconds:6.1f} s = {rows / seconds:9,.0f}/s"
        )
        rows, seconds = timed(measure)
        measure_rates.append(rows / seconds)
        print(
            f"round {round_number}: measure {rows:,} in {seconds:6.1f} s = {rows / seconds:9,.0f}/s"
        )
    rows, seconds = timed(conversation_recompute)
    stored = CallConversation.objects.count()
    print(
        f"recompute (read, measure, store): {rows:,} in {seconds:.1f} s = {rows / seconds:,.0f}/s; "
        f"{stored:,} rows stored"
    )

    best_read, best_measure = max(read_rates), max(measure_rates)
    ratio = best_measure / best_read
    print(
        f"best read {best_read:,.0f} calls/s, best measure {best_measure:,.0f} calls/s: "
        f"ratio {ratio:.2f} (target ≥ {RATIO_TARGET}) {'OK' if ratio >= RATIO_TARGET else 'MISSED'}"
    )
    print(f"recompute / read: {rows / seconds / best_read:.2f} (for the record)")
    print_summary(
        "conversation metrics", [Goal("measure / read", ratio, RATIO_TARGET, at_most=False)]
    )

    connection.close()
    if not args.keep:
        drop_database(url)


if __name__ == "__main__":
    main()
