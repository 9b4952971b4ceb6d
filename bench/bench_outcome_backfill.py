"""Common outcome backfill benchmark: calls/migrations/0012 over many stored calls (PostgreSQL).

    python bench/bench_outcome_backfill.py [--calls 100000] [--reuse] [--keep]

Full size (issue 18: "a backfill that works at 1M calls"):

    python bench/bench_outcome_backfill.py --calls 1000000

Creates (drops first) the database `bench_outcomes` on 127.0.0.1 as postgres (override with
BENCH_DATABASE_URL), migrates it, and fills it with bench_call_log.py's calls (Revrag reasons,
summaries and transcripts), as a database upgraded from before the common outcome holds them:
every `common_outcome` empty. It then gives 2 % of the conversations a voicemail greeting in
the callee's first turn and 10 % an extracted `callback_requested` of true, so every pass of
the backfill has work, and times `backfill_common_outcomes` (what the migration runs).

It migrates to the state the backfill meets in an upgrade (calls 0011: the column, no index on
it yet), prints the backfill's time against the target (≤ 10 min at 1M calls: a one-time
migration, in slices of 10,000 calls that each commit on their own), the statements it ran (no
per-call loop), the time of the rest of the upgrade, the outcome mix, and checks
a random sample of 2,000 calls against the live path (`calls.outcomes.common_outcome_of`).
--reuse keeps an already filled database (its outcomes are emptied again; its indexes stay, so
the backfill is slower than in an upgrade); --keep leaves it in place at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"

from bench.bench_call_log import fill  # noqa: E402 (after the path set-up)
from bench.database import drop_database, open_bench_database  # noqa: E402
from bench.summary import Goal, print_summary  # noqa: E402

TARGET_SECONDS_PER_MILLION = 600.0
DB_NAME = "bench_outcomes"
SAMPLE = 2000

SIGNS_SQL = """
UPDATE calls_call SET transcript = jsonb_set(transcript, '{1,text}',
    '"Hi, you have reached Sam. Please leave a message after the tone."')
WHERE vendor_outcome IN ('AGENT_HANGUP', 'MAX_DURATION') AND id % 50 = 0
  AND jsonb_array_length(transcript) > 1;
UPDATE calls_call SET extracted_variables = '{"callback_requested": true}'::jsonb
WHERE vendor_outcome IN ('AGENT_HANGUP', 'USER_HANGUP') AND id % 10 = 1;
UPDATE calls_call SET common_outcome = '';
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="1000000 for the full size")
    parser.add_argument("--reuse", action="store_true", help="use the filled database as it is")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()

    url = open_bench_database(DB_NAME, reuse=args.reuse)
    if url is None:
        return
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from calls.models import Call
    from calls.outcome_backfill import backfill_common_outcomes
    from calls.outcomes import common_outcome_of
    from vendors.models import VendorAccount

    if not args.reuse:
        # The schema the backfill meets in an upgrade: the column added (calls 0011), not yet
        # filled nor indexed (0012, 0013).
        call_command("migrate", verbosity=0)
        call_command("migrate", "calls", "0011_call_common_outcome", verbosity=0)
        started = time.perf_counter()
        fill(args.calls)
        print(f"filled {args.calls:,} calls in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute(SIGNS_SQL)
        cursor.execute("VACUUM ANALYZE calls_call")

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        read = backfill_common_outcomes(Call, VendorAccount)
        seconds = time.perf_counter() - started
    target = TARGET_SECONDS_PER_MILLION * max(args.calls, 1) / 1_000_000
    verdict = "met" if seconds <= target else "NOT met"
    print(f"backfill of {read:,} calls: {seconds:.1f} s (target ≤ {target:.0f} s: {verdict})")
    print_summary("outcome backfill", [Goal("backfill", seconds, round(target), unit="s")])
    statements = queries.captured_queries
    print(f"statements: {len(statements)} ({read / max(1, len(statements)):,.0f} calls each)")
    slowest = sorted(statements, key=lambda query: -float(query["time"]))[:3]
    for query in slowest:
        print(f"  slowest: {float(query['time']):6.2f} s  {query['sql'][:80]}")

    started = time.perf_counter()
    call_command("migrate", verbosity=0)  # the rest of the upgrade: indexes, rules, summary
    print(
        f"the rest of the upgrade (indexes built after the fill): "
        f"{time.perf_counter() - started:.1f} s"
    )

    mix = Call.objects.values("common_outcome").annotate(n=Count("id")).order_by("-n")
    print(
        "outcome mix: "
        + ", ".join(f"{row['common_outcome'] or '(live)'} {row['n']:,}" for row in mix)
    )

    ids = list(Call.objects.values_list("pk", flat=True))
    sample = random.Random(18).sample(ids, min(SAMPLE, len(ids)))
    wrong = [
        call.pk
        for call in Call.objects.filter(pk__in=sample).select_related("vendor_account")
        if call.common_outcome != common_outcome_of(call)
    ]
    print(f"sample of {len(sample):,} against the live path: {len(wrong)} disagree {wrong[:10]}")

    if not args.keep:
        connection.close()
        drop_database(url)


if __name__ == "__main__":
    main()
