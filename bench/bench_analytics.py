"""Analytics page benchmark: 1,000,000 calls in a throwaway PostgreSQL database.

    python bench/bench_analytics.py [--calls 1000000] [--spread-days 90] [--repeat 20]
                                    [--rounds 3] [--range-days 14] [--long-range-days 90]
                                    [--reuse] [--keep] [--without-peer] [--without-index]

Creates (drops first) the database `callops_analytics_bench` on 127.0.0.1 as postgres
(override with BENCH_DATABASE_URL), migrates it, fills it with `INSERT ... SELECT
generate_series` (calls spread evenly over the last --spread-days days, ~5 % of ended calls
reviewed, every campaign's contacts as dial entries, two of three vendor accounts priced), then
fills the analytics summary with the backfill (`manage.py analytics_backfill`) and times it.

Then the steady state of a live system: calls placed in the last half hour, late outcomes of
older calls and changed review scores (--recent, --late, --rerated: about a minute's worth on a
busy day) that the beat refresh has not picked up yet, so the page reads those hours from the
calls table and the rest from the summary. It renders /analytics/ with Django's test client
--repeat times per grouping, for two ranges (--range-days, the page's default 14, and
--long-range-days, 90), and beside it its peer: the same page reading the calls table only (as
before the summary), in the same run, which one first alternating by round; --rounds rounds.
It prints p50/p95, each range's worst p95 against the 300 ms target, the ratio summary page p95
/ no-summary p95 for each range (goal ≤ 1: the summary must not be slower than what it
replaces), then times the refresh that catches up with those changes.

Full size (the peer reads 1,000,000 calls for the 90 days, ~1 s a page: ~10 minutes in all):

    python bench/bench_analytics.py --calls 1000000

--reuse keeps an already filled database; --keep leaves it in place at the end.
--without-peer measures the summary page only.
--without-index drops calls/migrations/0007's covering index first, to see what it is worth.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"

from bench.database import drop_database, open_bench_database  # noqa: E402 (the path first)
from bench.summary import Goal, print_summary  # noqa: E402

TARGET_MS = 300.0
# The summary page may not be slower than the page reading the calls table alone.
TARGET_RATIO = 1.0
DB_NAME = "callops_analytics_bench"


def fill_small_tables() -> None:
    """Accounts, agents, campaigns and contacts through the ORM (its defaults fill the rest)."""
    from calls.models import Agent
    from campaigns.models import Campaign
    from contacts.models import Contact
    from vendors.models import VendorAccount

    accounts = [
        VendorAccount.objects.create(
            kind="revrag",
            name=f"Bench account {n}",
            base_url="http://127.0.0.1:9/revrag",
            api_key_encrypted="",
            api_key_mask="",
            price_per_minute=(Decimal("0.0900"), Decimal("0.1200"), None)[n],
        )
        for n in range(3)
    ]
    for n in range(20):
        Agent.objects.create(
            vendor_account=accounts[n % 3], vendor_agent_id=f"agent-{n}", name=f"Agent {n}"
        )
    for n in range(8):
        Campaign.objects.create(
            name=f"Campaign {n}",
            vendor_account=accounts[0],
            kind="paced",
            status="running" if n < 2 else "completed",
        )
    Contact.objects.bulk_create(
        (Contact(name=f"Contact {n}", phone_e164=f"+1415{n:07d}") for n in range(50_000)),
        batch_size=5000,
    )


CALLS_SQL = """
WITH bounds AS (
    SELECT (SELECT min(id) FROM calls_agent) AS agent0,
           (SELECT min(id) FROM campaigns_campaign) AS campaign0,
           (SELECT min(id) FROM contacts_contact) AS contact0
), series AS (
    SELECT n, random() AS r, random() AS r2,
           now() - (random() * %(spread)s * interval '1 day') AS at
    FROM generate_series(1, %(calls)s) AS n
)
INSERT INTO calls_call (vendor_account_id, agent_id, contact_id, campaign_id, to_number,
    from_number, state, outcome, vendor_outcome, error_message, vendor_call_id, vendor_status,
    idempotency_key, request_key, dispatch_attempts, sync_failures, is_stale, last_payload,
    variables, metadata, summary, transcript, extracted_variables, recording_url,
    duration_seconds, created_at, started_at, ended_at)
SELECT
    (SELECT vendor_account_id FROM calls_agent WHERE id = b.agent0 + n %% 20),
    b.agent0 + n %% 20,
    b.contact0 + n %% 50000,
    CASE WHEN n %% 3 = 0 THEN b.campaign0 + n %% 8 END,
    '+1415' || lpad((n %% 50000)::text, 7, '0'), '+14150000000',
    CASE WHEN r < 0.04 THEN 'failed' WHEN r < 0.045 THEN 'running' ELSE 'ended' END,
    CASE WHEN r < 0.045 THEN ''
         WHEN r2 < 0.45 THEN 'completed' WHEN r2 < 0.60 THEN 'not_picked'
         WHEN r2 < 0.70 THEN 'hung_up' WHEN r2 < 0.80 THEN 'voicemail'
         WHEN r2 < 0.87 THEN 'rejected' WHEN r2 < 0.92 THEN 'dropped'
         WHEN r2 < 0.96 THEN 'transferred' ELSE 'not_connected' END,
    CASE WHEN r < 0.045 THEN ''
         WHEN r2 < 0.30 THEN 'AGENT_HANGUP' WHEN r2 < 0.45 THEN 'MAX_DURATION'
         WHEN r2 < 0.60 THEN 'CALL_NOT_PICKED' WHEN r2 < 0.70 THEN 'USER_HANGUP'
         WHEN r2 < 0.80 THEN 'VOICEMAIL_REACHED' WHEN r2 < 0.87 THEN 'USER_REJECTED'
         WHEN r2 < 0.92 THEN 'CALL_DROPPED' ELSE 'CALL_NOT_CONNECTED' END,
    '', 'bench-' || n, '', gen_random_uuid(), '', 1, 0, false, '{}'::jsonb, '{}'::jsonb,
    '{}'::jsonb, 'Bench call ' || n, '[]'::jsonb, '{}'::jsonb, '',
    CASE WHEN r < 0.045 THEN NULL ELSE (r2 * 400)::int END,
    at, at + interval '5 seconds', at + interval '3 minutes'
FROM series, bounds AS b
"""

RECENT_SQL = """
WITH bounds AS (
    SELECT (SELECT min(id) FROM calls_agent) AS agent0,
           (SELECT min(id) FROM contacts_contact) AS contact0
)
INSERT INTO calls_call (vendor_account_id, agent_id, contact_id, campaign_id, to_number,
    from_number, state, outcome, vendor_outcome, error_message, vendor_call_id, vendor_status,
    idempotency_key, request_key, dispatch_attempts, sync_failures, is_stale, last_payload,
    variables, metadata, summary, transcript, extracted_variables, recording_url,
    duration_seconds, created_at)
SELECT (SELECT vendor_account_id FROM calls_agent WHERE id = b.agent0 + n %% 20),
    b.agent0 + n %% 20, b.contact0 + n %% 50000, NULL, '+14150000001', '+14150000000',
    'ended', 'completed', 'AGENT_HANGUP', '', 'recent-' || gen_random_uuid(), '',
    gen_random_uuid(), '', 1, 0, false, '{}'::jsonb, '{}'::jsonb, '{}'::jsonb, '', '[]'::jsonb,
    '{}'::jsonb, '', (random() * 300)::int, now() - random() * interval '30 minutes'
FROM generate_series(1, %(calls)s) AS n, bounds AS b
"""

# Late news about older calls (a webhook after a sync, a corrected outcome) and re-rated calls.
LATE_SQL = """
UPDATE calls_call SET outcome = 'transferred', vendor_outcome = 'TRANSFERRED',
    duration_seconds = coalesce(duration_seconds, 0) + 1
WHERE id IN (SELECT id FROM calls_call WHERE created_at < now() - interval '1 hour'
             AND created_at > now() - interval '14 days' ORDER BY random() LIMIT %(calls)s)
"""
RERATE_SQL = """
UPDATE calls_callreview SET rating = 6 - rating
WHERE id IN (SELECT id FROM calls_callreview ORDER BY random() LIMIT %(reviews)s)
"""

# Each campaign's audience: the contacts it called (with their attempts and latest outcome) and
# as many again it has not reached yet.
DIAL_ENTRIES_SQL = (
    """
INSERT INTO campaigns_dialentry (campaign_id, contact_id, phone_e164, time_zone, state,
    attempts, last_attempt_at, last_call_id, last_outcome, note, source, updated_at)
SELECT campaign_id, contact_id, min(to_number), '', 'completed', count(*), max(created_at),
       max(id), (array_agg(outcome ORDER BY created_at DESC))[1], '', '', now()
FROM calls_call WHERE campaign_id IS NOT NULL AND contact_id IS NOT NULL
GROUP BY campaign_id, contact_id
""",
    """
INSERT INTO campaigns_dialentry (campaign_id, contact_id, phone_e164, time_zone, state,
    attempts, last_outcome, note, source, updated_at)
SELECT camp.id, c.id, c.phone_e164, '', 'pending', 0, '', '', '', now()
FROM campaigns_campaign camp JOIN contacts_contact c ON c.id % 8 = camp.id % 8
ON CONFLICT DO NOTHING
""",
)

REVIEWS_SQL = """
INSERT INTO calls_callreview (call_id, reviewer_id, is_reviewed, reviewed_at, rating, note,
    created_at, updated_at)
SELECT id, %(user)s, true, now(), 1 + (id %% 5), '', now(), now()
FROM calls_call WHERE state = 'ended' AND id %% 20 = 0
"""

GROUPINGS = ("day", "week", "account", "agent", "campaign")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * (len(ordered) - 1))))
    return ordered[index]


SUMMARY_TABLES = (
    "dashboard_calldaysummary",
    "dashboard_callhoursummary",
    "dashboard_callhourtotal",
    "dashboard_durationdaysummary",
    "dashboard_durationhoursummary",
    "dashboard_summarychange",
)


def vacuum_summary(connection) -> None:
    """Every refresh rewrites the rows of the hours it recomputes. Autovacuum clears the old
    versions in production (the migration tunes it for these tables); on a server where it is
    off (as on the development machine) the bench does it, or it would measure the bloat."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return
        for table in SUMMARY_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")


def measure(client, repeat: int, range_query: str, label: str) -> dict[str, float]:
    """Each grouping --repeat times after one warm-up; prints p50/p95; returns each p95."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p95s = {}
    for grouping in GROUPINGS:
        path = f"/analytics/?group={grouping}{range_query}"
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        timings = []
        queries = 0
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - started) * 1000)
            queries = len(captured)
        p50, p95s[grouping] = statistics.median(timings), percentile(timings, 0.95)
        print(
            f"    {label:10s} {grouping:9s} p50 {p50:7.1f} ms  p95 {p95s[grouping]:7.1f} ms  "
            f"({queries} queries)"
        )
    return p95s


def use_summary(on: bool, tz) -> None:
    """Switch the page between the summary and the calls table alone (the peer): the page
    reads the summary only when it is marked built for the current zone."""
    from analytics.models import SummaryState

    zone = getattr(tz, "key", None) or str(tz)
    SummaryState.objects.filter(pk=1).update(time_zone=zone if on else "")


def range_query_for(days: int) -> str:
    from django.utils import timezone

    today = timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    return "" if days == 14 else f"&since={first_day}&until={today}"


def compare(client, args, ranges: list[int], tz) -> list[Goal]:
    """The summary page and its peer without it, side by side for each range, --rounds times
    (which one goes first alternates). Prints the ratios; returns the goals."""
    worst: dict[tuple[int, str], float] = {}
    per_grouping: dict[tuple[int, str], dict[str, float]] = {}
    sides = [("summary", True)] + ([] if args.without_peer else [("no summary", False)])
    for round_ in range(1, args.rounds + 1):
        print(f"round {round_}:")
        for days in ranges:
            print(f"  {days} days:")
            for label, on in sides if round_ % 2 else sides[::-1]:
                use_summary(on, tz)
                p95s = measure(client, args.repeat, range_query_for(days), label)
                use_summary(True, tz)
                for grouping, value in p95s.items():
                    slot = per_grouping.setdefault((days, label), {})
                    slot[grouping] = max(slot.get(grouping, 0.0), value)
                worst[(days, label)] = max(worst.get((days, label), 0.0), max(p95s.values()))
    goals = []
    for days in ranges:
        summary_p95 = worst[(days, "summary")]
        print(f"{days} days, worst p95 of any grouping and round: summary page "
              f"{summary_p95:.1f} ms (target {TARGET_MS:.0f} ms)", end="")  # fmt: skip
        goals.append(Goal(f"{days} d summary page worst p95", summary_p95, TARGET_MS, unit="ms"))
        if args.without_peer:
            print()
            continue
        peer_p95 = worst[(days, "no summary")]
        ratio = summary_p95 / peer_p95
        print(f", no summary {peer_p95:.1f} ms: summary / no summary {ratio:.2f}")
        print("  per grouping (worst round each): " + ", ".join(
            f"{g} {per_grouping[(days, 'summary')][g] / per_grouping[(days, 'no summary')][g]:.2f}"
            for g in GROUPINGS
        ))  # fmt: skip
        goals.append(Goal(f"{days} d summary / no-summary p95", ratio, TARGET_RATIO))
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--spread-days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="measure every grouping N times")
    parser.add_argument(
        "--range-days", type=int, default=14, help="the page's date range (default: its own)"
    )
    parser.add_argument("--recent", type=int, default=300, help="calls of the last half hour")
    # About a minute of changes, what the page sees between two beat refreshes on a busy day.
    parser.add_argument(
        "--late", type=int, default=10, help="older calls whose outcome changed since the refresh"
    )
    parser.add_argument(
        "--rerated", type=int, default=10, help="reviews whose score changed since the refresh"
    )
    parser.add_argument("--reuse", action="store_true", help="use the filled database as it is")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--without-index", action="store_true", help="measure without 0007")
    parser.add_argument("--long-range-days", type=int, default=90, help="the second range measured")
    parser.add_argument(
        "--without-peer",
        action="store_true",
        help="skip the peer reading the calls table only (it takes longer than the page)",
    )
    args = parser.parse_args()

    url = open_bench_database(DB_NAME, reuse=args.reuse)
    if url is None:
        return
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from analytics import summary as analytics_summary
    from analytics import summary_refresh as analytics_refresh

    setup_test_environment()  # the test client's host is allowed, templates are recorded
    if args.reuse:
        # Make sure the analytics index (calls/migrations/0007) is there, then apply what is new
        # (the summary's tables and triggers among it).
        index = importlib.import_module("calls.migrations.0007_call_analytics_index")
        with connection.cursor() as cursor:
            cursor.execute(index.INDEX_SQL)
    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get_or_create(name="manager")[0])

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM calls_call")
        existing = cursor.fetchone()[0]
    if not existing:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            fill_small_tables()
            cursor.execute(CALLS_SQL, {"calls": args.calls, "spread": args.spread_days})
            cursor.execute(REVIEWS_SQL, {"user": user.pk})
            for statement in DIAL_ENTRIES_SQL:
                cursor.execute(statement)
            cursor.execute("VACUUM ANALYZE")
        print(f"filled in {time.perf_counter() - started:.1f} s")
    if args.without_index:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS call_analytics_idx")

    tz = timezone.get_default_timezone()
    if not analytics_summary.summary_ready(tz):
        started = time.perf_counter()
        result = analytics_refresh.rebuild_summary()
        print(
            f"backfill (manage.py analytics_backfill): {result} in "
            f"{time.perf_counter() - started:.1f} s"
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as autovacuum would after so many new rows
    analytics_refresh.catch_up()  # what a previous run changed
    vacuum_summary(connection)
    with connection.cursor() as cursor:
        cursor.execute(RECENT_SQL, {"calls": args.recent})
        cursor.execute(LATE_SQL, {"calls": args.late})
        cursor.execute(RERATE_SQL, {"reviews": args.rerated})

    ranges = sorted({args.range_days, args.long_range_days})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(created_at), max(created_at) FROM calls_call")
        count, first, last = cursor.fetchone()
        in_range = []
        for days in ranges:
            cursor.execute(
                "SELECT count(*) FROM calls_call WHERE created_at >= now() - %s * interval '1 day'",
                [days],
            )
            in_range.append(f"last {days} days: {cursor.fetchone()[0]:,}")
        cursor.execute("SELECT count(*) FROM campaigns_dialentry")
        entries = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM dashboard_calldaysummary")
        day_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM dashboard_callhoursummary")
        hour_rows = cursor.fetchone()[0]
    print(f"database: {connection.settings_dict['NAME']} ({connection.vendor})")
    print(f"calls: {count:,} from {first:%Y-%m-%d} to {last:%Y-%m-%d}; " + "; ".join(in_range))
    print(f"dial entries: {entries:,}; summary rows: {day_rows:,} days, {hour_rows:,} hours")
    today = timezone.localdate()
    for days in ranges:
        sources = analytics_summary.sources_for(today - timedelta(days=days - 1), today, tz)
        print(
            f"{days} days: local hours read from the calls table beside the summary (changes "
            f"not refreshed yet): {sources.pending_hours}"
        )

    client = Client()
    client.force_login(user)
    print(
        f"GET /analytics/?group=... ×{args.repeat} (after one warm-up) per grouping, for "
        f"{' and '.join(str(days) for days in ranges)} days (14: the page's default); "
        + ("the summary page only" if args.without_peer else
           "the summary page and its peer reading the calls table only, in alternating order")
    )  # fmt: skip
    print_summary("analytics", compare(client, args, ranges, tz))
    started = time.perf_counter()
    result = analytics_refresh.refresh_summary()
    print(
        f"beat refresh catching up with those changes: {result} in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )

    connection.close()
    if not args.keep:
        drop_database(url)


if __name__ == "__main__":
    main()
