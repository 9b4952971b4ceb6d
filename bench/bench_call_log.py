"""Call log benchmark: the real /calls/ view over many calls in a throwaway PostgreSQL database.

    python bench/bench_call_log.py [--calls 100000] [--repeat 30] [--reuse] [--keep]

Full size (issue 4), ~6-10 minutes of filling on this 2-core machine, then the measures:

    python bench/bench_call_log.py --calls 1000000

Creates (drops first) the database `bench_calllog` on 127.0.0.1 as postgres (override with
BENCH_DATABASE_URL), migrates it, and fills it with `INSERT ... SELECT generate_series`:
--calls calls over the last year on 4 accounts, 24 agents and 12 campaigns, one contact per
ten calls with real-looking names, each call with a summary and a transcript of 6-15 turns
drawn from a pool of sales-call lines (so "pricing" is in about a third of the calls, a common
term). Then it requests the call log through Django's test client as a logged-in operator,
the way the browser does, --repeat times each after a warm-up:

- the first page (full page, GET /calls/);
- filtered pages (htmx, the filter form): a common filter and a selective one, and the
  conversation metrics' filters (long silences; talk share with response gap; campaign with
  response gap), over metrics measured after the fill by the recompute command's code;
- the page at the middle row (row 500,000 at full size), as "Load more" asks for it: with the
  cursor the previous page handed out (call_log.encode_cursor of the row before it);
- a transcript search for a common term (htmx, ?q=pricing), ordered by recency.

It prints p50/p95 server time and the queries of each against the targets: pages p95 ≤ 25 ms
with ≤ 3 queries for the call log (besides the session and user lookups every page makes),
not growing with page size (checked at 50 and 200 rows); the deep page within 1.5x of the
first; search p95 ≤ 10 ms; and that no query is an unfiltered COUNT(*) of the calls.
--reuse keeps an already filled database; --keep leaves it in place at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# callops plus Django's admin, the peer (bench/call_log_settings.py).
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.call_log_settings"

from bench.database import drop_database, open_bench_database  # noqa: E402 (the path first)
from bench.summary import Goal, print_summary  # noqa: E402

PAGE_TARGET_MS = 25.0
SEARCH_TARGET_MS = 10.0
DEEP_RATIO_TARGET = 1.5
MAX_LOG_QUERIES = 3
DB_NAME = "bench_calllog"
COMMON_TERM = "pricing"
# A word no pooled line has: put into one summary in RARE_EVERY after the fill (ensure_rare_term).
RARE_TERM = "escrow"
RARE_EVERY = 4000

FIRST_NAMES = [
    "Aarav", "Maria", "James", "Fatima", "Chen", "Olivia", "Liam", "Sofia", "Noah", "Amara",
    "Lucas", "Yuki", "Ethan", "Priya", "Mateo", "Hannah", "Omar", "Grace", "Diego", "Leila",
]  # fmt: skip
LAST_NAMES = [
    "Sharma", "Garcia", "Smith", "Khan", "Wang", "Johnson", "Brown", "Rossi", "Müller", "Okafor",
    "Silva", "Tanaka", "Miller", "Patel", "Lopez", "Cohen", "Haddad", "Nguyen", "Kim", "Dubois",
]  # fmt: skip
AGENT_LINES = [
    "Hi, this is Ava calling from Northwind about your recent enquiry.",
    "Is now a good time to talk for two minutes?",
    "I wanted to walk you through our pricing for the team plan.",
    "The annual plan comes with a discount of fifteen percent.",
    "Could you tell me how many seats your team would need?",
    "We can schedule a demo with a product specialist next week.",
    "Would Tuesday or Thursday afternoon work better for you?",
    "I have noted that, and I will send the details by email today.",
    "Our onboarding takes about a week, and support is included.",
    "Is there anyone else on your side who should join the call?",
    "I understand, I can call back at a better time.",
    "Thanks for your time, have a great day.",
]
CUSTOMER_LINES = [
    "Yes, I have a few minutes, go ahead.",
    "What does the pricing look like for about twenty people?",
    "We are currently using a spreadsheet and it does not scale.",
    "Can you send me the contract so legal can review it?",
    "I am busy right now, could you call me back tomorrow?",
    "The budget is decided next quarter, so not before then.",
    "Does it integrate with our CRM and our calendar?",
    "That sounds interesting, Thursday afternoon works for me.",
    "Please remove me from your list, I am not interested.",
    "My manager handles purchasing, I can forward the email.",
    "Is there a free trial before we commit to anything?",
    "Okay, thanks, bye.",
]
SUMMARIES = [
    "Customer interested in the team plan; demo booked for Thursday.",
    "Asked for pricing and a contract draft for legal review.",
    "Not interested; asked to be removed from the list.",
    "Call back tomorrow; customer was busy.",
    "Budget decided next quarter; follow up in three months.",
    "Wants a CRM integration before buying; sent documentation.",
    "Left with the manager's email for purchasing.",
    "Free trial requested; onboarding explained.",
]


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


# Built from the constant word lists above only; sizes are parameters.
CONTACTS_SQL = f"""
INSERT INTO contacts_contact (name, phone_e164, email, linkedin_url, time_zone, metadata,
    created_at, updated_at)
SELECT ({_sql_array(FIRST_NAMES)})[1 + n %% {len(FIRST_NAMES)}] || ' ' ||
       ({_sql_array(LAST_NAMES)})[1 + (n / {len(FIRST_NAMES)}) %% {len(LAST_NAMES)}],
       '+1415' || lpad(n::text, 7, '0'), '', '', 'America/Los_Angeles', '{{}}'::jsonb,
       now(), now()
FROM generate_series(1, %(contacts)s) AS n
"""  # noqa: S608

AGENT_SQL, CUSTOMER_SQL = _sql_array(AGENT_LINES), _sql_array(CUSTOMER_LINES)
# created_at: evenly over the last year with jitter, so pages see ties and gaps as in life.
CALLS_SQL = f"""
WITH bounds AS (
    SELECT (SELECT min(id) FROM calls_agent) AS agent0,
           (SELECT min(id) FROM campaigns_campaign) AS campaign0,
           (SELECT min(id) FROM contacts_contact) AS contact0
), series AS (
    SELECT n, random() AS r, random() AS r2,
           now() - (n * (31536000.0 / %(calls)s) + random() * 20) * interval '1 second' AS at
    FROM generate_series(1, %(calls)s) AS n
)
INSERT INTO calls_call (vendor_account_id, agent_id, contact_id, campaign_id, to_number,
    from_number, state, outcome, vendor_outcome, error_message, vendor_call_id, vendor_status,
    idempotency_key, request_key, dispatch_attempts, sync_failures, is_stale, last_payload,
    variables, metadata, summary, transcript, extracted_variables, recording_url,
    duration_seconds, created_at, started_at, ended_at)
SELECT
    (SELECT vendor_account_id FROM calls_agent WHERE id = b.agent0 + n %% 24),
    b.agent0 + n %% 24,
    b.contact0 + n %% %(contacts)s,
    CASE WHEN n %% 3 = 0 THEN b.campaign0 + n %% 12 END,
    '+1415' || lpad((n %% %(contacts)s + 1)::text, 7, '0'), '+14150000000',
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
    '', 'bench-' || n, 'ended', gen_random_uuid(), '', 1, 0, false,
    jsonb_build_object('call_id', 'bench-' || n, 'status', 'ended'),
    jsonb_build_object('first_name', 'Alex', 'plan', 'team'), '{{}}'::jsonb,
    CASE WHEN r2 < 0.45 OR r2 >= 0.96
         THEN ({_sql_array(SUMMARIES)})[1 + n %% {len(SUMMARIES)}] ELSE '' END,
    CASE WHEN r2 < 0.45 OR r2 >= 0.96 THEN (
        SELECT jsonb_agg(jsonb_build_object(
            'speaker', CASE WHEN t %% 2 = 0 THEN 'agent' ELSE 'customer' END,
            'text', CASE WHEN t %% 2 = 0
                THEN ({AGENT_SQL})[1 + floor(random() * {len(AGENT_LINES)})::int]
                ELSE ({CUSTOMER_SQL})[1 + floor(random() * {len(CUSTOMER_LINES)})::int]
                END,
            'start', round(s::numeric, 2), 'end', round((s + 2.5 + random() * 4.5)::numeric, 2))
            ORDER BY t)
        FROM (SELECT t, t * 7.5 + random() * 2
                        + CASE WHEN (n + t) %% 15 = 0 THEN 4 ELSE 0 END AS s
              FROM generate_series(0, 5 + n %% 10) AS t) AS lines) ELSE '[]'::jsonb END,
    '{{}}'::jsonb,
    CASE WHEN r2 < 0.45 OR r2 >= 0.96
         THEN 'https://api.revrag.test/recordings/bench-' || n || '.mp3' ELSE '' END,
    CASE WHEN r < 0.045 THEN NULL ELSE (r2 * 400)::int END,
    at, at + interval '5 seconds', at + interval '3 minutes'
FROM series, bounds AS b
"""  # noqa: S608


def fill(calls: int) -> None:
    from django.db import connection

    from calls.conversation_metrics import conversation_recompute
    from calls.models import Agent
    from campaigns.models import Campaign
    from vendors.models import VendorAccount

    accounts = [
        VendorAccount.objects.create(
            kind="revrag",
            name=f"Bench account {n}",
            base_url="http://127.0.0.1:9/revrag",
            api_key_encrypted="",
            api_key_mask="",
        )
        for n in range(4)
    ]
    for n in range(24):
        Agent.objects.create(
            vendor_account=accounts[n % 4], vendor_agent_id=f"agent-{n}", name=f"Agent {n}"
        )
    for n in range(12):
        Campaign.objects.create(
            name=f"Campaign {n}", vendor_account=accounts[0], kind="paced", status="completed"
        )
    contacts = max(1, calls // 10)
    with connection.cursor() as cursor:
        cursor.execute(CONTACTS_SQL, {"contacts": contacts})
        cursor.execute(CALLS_SQL, {"calls": calls, "contacts": contacts})
        cursor.execute("ANALYZE calls_call")
    # The conversation metrics the filters read, measured as the recompute command does.
    started = time.perf_counter()
    measured = conversation_recompute()
    print(f"measured {measured:,} conversations in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def ensure_common_outcomes() -> None:
    """The common outcome of every call, set by the product's own backfill (calls.outcomes)."""
    from calls.models import Call
    from calls.outcome_backfill import backfill_common_outcomes
    from contacts.models import DoNotCallEntry
    from vendors.models import VendorAccount

    if Call.objects.exclude(common_outcome="").exists():
        return
    started = time.perf_counter()
    backfill_common_outcomes(Call, VendorAccount, DoNotCallEntry)
    print(f"common outcomes set in {time.perf_counter() - started:.1f} s")


def ensure_rare_term() -> None:
    """A rare search term: one call in RARE_EVERY with a summary mentions RARE_TERM."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE calls_call SET summary = summary || %s "
            "WHERE id %% %s = 0 AND summary <> '' AND summary NOT LIKE %s",
            [f" Asked about {RARE_TERM} terms.", RARE_EVERY, f"%{RARE_TERM}%"],
        )
        if cursor.rowcount:
            cursor.execute("VACUUM ANALYZE calls_call")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * (len(ordered) - 1))))]


@dataclass
class Measure:
    timings: list[float]
    sql_timings: list[float]
    log_sql_timings: list[float]
    queries: list[str]
    content: bytes

    @property
    def p50(self) -> float:
        return statistics.median(self.timings)

    @property
    def p95(self) -> float:
        return percentile(self.timings, 0.95)

    @property
    def sql_p95(self) -> float:
        return percentile(self.sql_timings, 0.95)

    @property
    def log_sql_p95(self) -> float:
        return percentile(self.log_sql_timings, 0.95)


_CALL_TABLE = re.compile(r'FROM "calls_call"', re.IGNORECASE)


_AUTH_TABLES = ("django_session", "auth_user", "auth_group", "axes_")


def is_log_query(sql: str) -> bool:
    """A query of the call log itself: not the session, user and role lookups."""
    return not any(name in sql for name in _AUTH_TABLES)


class QueryTimer:
    """Each query's SQL and time, measured around the database driver's execute only.

    An execute wrapper rather than Django's CaptureQueriesContext: that turns on the debug
    cursor (formatting every query for the log, inside the whole request's time) and records
    times rounded to the millisecond, too coarse for pages of a few milliseconds.
    """

    def __init__(self) -> None:
        self.queries: list[tuple[str, float]] = []

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001 (Django's hook)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((sql, (time.perf_counter() - started) * 1000))


def unfiltered_counts(queries: list[str]) -> list[str]:
    """Queries counting the calls table without a WHERE: what the page must never run."""
    return [
        sql
        for sql in queries
        if "COUNT(" in sql.upper() and _CALL_TABLE.search(sql) and " WHERE " not in sql.upper()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="1000000 for issue 4's size")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="use the filled database as it is")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()

    url = open_bench_database(DB_NAME, reuse=args.reuse)
    if url is None:
        return
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from calls import call_log
    from calls.models import Agent, Call

    # The test client's host, allowed without setup_test_environment(): that would instrument
    # every template render to record its context for assertions (a copy of the context per
    # row partial), which production does not pay.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])

    if not Call.objects.exists():
        started = time.perf_counter()
        fill(args.calls)
        print(f"filled in {time.perf_counter() - started:.1f} s")
    ensure_common_outcomes()
    ensure_rare_term()
    admin_user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM calls_call")
        count = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM calls_call WHERE summary ILIKE %s OR transcript::text ILIKE %s",
            [f"%{COMMON_TERM}%", f"%{COMMON_TERM}%"],
        )
        with_term = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM calls_call WHERE summary LIKE %s", [f"%{RARE_TERM}%"])
        with_rare = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('calls_call'))")
        size = cursor.fetchone()[0]
    middle = count // 2
    print(f"database: {connection.settings_dict['NAME']}; calls: {count:,} ({size})")
    print(f'calls mentioning "{COMMON_TERM}": {with_term:,} ({with_term / count:.0%})')
    print(f'calls mentioning "{RARE_TERM}": {with_rare:,} ({with_rare / count:.3%})')

    # The deep page's cursor: what "Load more" on the page before it carries.
    before_middle = Call.objects.order_by("-created_at", "-id")[middle - 1 : middle].get()
    deep_cursor = call_log.encode_cursor(before_middle)
    agent = Agent.objects.order_by("id").first()
    campaign_id = Call.objects.exclude(campaign=None).values_list("campaign_id", flat=True)[0]

    client = Client()
    client.force_login(user)
    htmx_results = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}
    htmx_more = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "call-rows"}
    scenarios = [
        ("first page", {}, {}, PAGE_TARGET_MS),
        ("filtered: outcome + agent", {"outcome": "completed", "agent": agent.pk}, htmx_results,
         PAGE_TARGET_MS),
        ("filtered: campaign", {"campaign": campaign_id}, htmx_results, PAGE_TARGET_MS),
        ("filtered: campaign + recording + min 300 s",
         {"campaign": campaign_id, "recording": "yes", "min_duration": 300}, htmx_results,
         PAGE_TARGET_MS),
        ("filtered: long silences", {"silences": "yes"}, htmx_results, PAGE_TARGET_MS),
        ("filtered: agent talk 45-55 % + response p90 > 6 s",
         {"talk_from": 45, "talk_to": 55, "gap_p90": 6}, htmx_results, PAGE_TARGET_MS),
        ("filtered: campaign + response p90 > 8 s", {"campaign": campaign_id, "gap_p90": 8},
         htmx_results, PAGE_TARGET_MS),
        (f"page at row {middle:,} (keyset)", {"after": deep_cursor}, htmx_more, PAGE_TARGET_MS),
        (f'search "{COMMON_TERM}"', {"q": COMMON_TERM}, htmx_results, SEARCH_TARGET_MS),
        (f'search "{RARE_TERM}" (rare)', {"q": RARE_TERM}, htmx_results, SEARCH_TARGET_MS),
    ]  # fmt: skip

    admin_client = Client()
    admin_client.force_login(admin_user)

    def measure(params: dict, headers: dict, repeat: int, *, path: str = "/calls/", on=None):
        """Whole-request and SQL timings (ms) of `repeat` GETs after a warm-up."""
        on = on or client
        path = path + "?" + urlencode(params) if params else path
        response = on.get(path, **headers)  # warm-up
        assert response.status_code == 200, (path, response.status_code)
        timings, sql_timings, log_sql_timings = [], [], []
        for _ in range(repeat):
            timer = QueryTimer()
            with connection.execute_wrapper(timer):
                started = time.perf_counter()
                response = on.get(path, **headers)
                timings.append((time.perf_counter() - started) * 1000)
            sql_timings.append(sum(ms for _sql, ms in timer.queries))
            log_sql_timings.append(sum(ms for sql, ms in timer.queries if is_log_query(sql)))
        queries = [sql for sql, _ms in timer.queries if is_log_query(sql)]
        return Measure(timings, sql_timings, log_sql_timings, queries, response.content)

    print(f"GET /calls/ as an operator, ×{args.repeat} each after a warm-up")
    print("  whole = the request in Django (middleware, queries, template): the figure;")
    print("  SQL = its queries as Django ran them (session and user lookups too);")
    print("  log SQL = the call log's own queries only")
    whole: dict[str, float] = {}
    sql: dict[str, float] = {}
    log_sql: dict[str, float] = {}
    all_met = True
    for name, params, headers, target in scenarios:
        m = measure(params, headers, args.repeat)
        rows = m.content.count(b"<tr>") - (1 if b"<thead>" in m.content else 0)
        whole[name], sql[name], log_sql[name] = m.p95, m.sql_p95, m.log_sql_p95
        counted = unfiltered_counts(m.queries)
        met = m.p95 <= target and len(m.queries) <= MAX_LOG_QUERIES and not counted
        all_met &= met
        print(
            f"  {name:43s} whole p50 {m.p50:5.1f} ms  p95 {m.p95:5.1f} ms (≤ {target:.0f})  "
            f"{rows} rows  {'OK' if met else 'MISSED'}"
        )
        print(
            f"  {'':43s}   SQL p95 {m.sql_p95:5.1f} ms, log SQL p95 {m.log_sql_p95:5.1f} ms, "
            f"{len(m.queries)} queries (≤ {MAX_LOG_QUERIES}); whole / SQL {m.p95 / m.sql_p95:.2f}"
        )
        if counted:
            print(f"    unfiltered COUNT(*): {counted}")

    first = whole["first page"]
    keyset = f"page at row {middle:,} (keyset)"
    deep = whole[keyset]
    deep_ok = deep <= DEEP_RATIO_TARGET * first
    all_met &= deep_ok
    print(
        f"deep page / first page p95: {deep / first:.2f} (target ≤ {DEEP_RATIO_TARGET}) "
        f"{'OK' if deep_ok else 'MISSED'}"
    )
    common, rare = f'search "{COMMON_TERM}"', f'search "{RARE_TERM}" (rare)'
    for term in (common, rare):
        print(
            f"{term} log SQL / keyset page log SQL p95: {log_sql[term]:.1f} / "
            f"{log_sql[keyset]:.1f} ms = {log_sql[term] / log_sql[keyset]:.2f} (goal ≤ 1.5)"
        )

    # Whole request against its SQL, and the query count, at 50 and 200 rows a page.
    sizes: dict[int, list[int]] = {}
    ratios: dict[int, float] = {}
    for size in (50, 200):
        call_log.PAGE_SIZE = size
        sizes[size] = [len(measure(p, h, 1).queries) for _n, p, h, _t in scenarios]
        m = measure({}, {}, args.repeat)
        ratios[size] = m.p95 / m.sql_p95
        print(
            f"first page at {size} rows: whole p95 {m.p95:5.1f} ms, SQL p95 {m.sql_p95:5.1f} ms, "
            f"whole / SQL {ratios[size]:.2f} (goal ≤ 2)"
        )
    call_log.PAGE_SIZE = 50
    # The floor: what a signed-in request costs through the same middleware with no work, and
    # with the layout around nothing. Its own whole / SQL says how far the goal's 2 can be met.
    for name, floor_path in (
        ("empty view", "/bench-floor/empty/"),
        ("layout only", "/bench-floor/layout/"),
    ):
        m = measure({}, {}, args.repeat, path=floor_path)
        print(
            f"floor, {name}: whole p95 {m.p95:5.1f} ms, SQL p95 {m.sql_p95:5.1f} ms "
            f"({len(m.queries)} queries), whole / SQL {m.p95 / m.sql_p95:.2f}"
        )
    flat = sizes[50] == sizes[200]
    all_met &= flat
    print(
        f"queries per scenario at 50 rows {sizes[50]}, at 200 rows {sizes[200]}: "
        f"{'constant' if flat else 'GROWING'}"
    )

    # The peer: Django's admin changelist over the same calls (bench/call_log_urls.py).
    peer_scenarios = [
        ("first page", {}, {}),
        ("filtered: outcome + agent", {"outcome": "completed", "agent": agent.pk}, htmx_results),
    ]
    admin_params = [{}, {"common_outcome__exact": "completed", "agent__id__exact": agent.pk}]
    peer: dict[str, float] = {}
    for (name, params, headers), admin_query in zip(peer_scenarios, admin_params, strict=True):
        ours = measure(params, headers, args.repeat)
        theirs = measure(admin_query, {}, args.repeat, path="/bench-admin/calls/call/",
                         on=admin_client)  # fmt: skip
        peer[name] = ours.p95 / theirs.p95
        print(
            f"peer, {name}: callops p95 {ours.p95:5.1f} ms, Django admin p95 {theirs.p95:5.1f} ms "
            f"({len(theirs.queries)} queries), callops / admin {peer[name]:.2f}"
        )
    print(f"all call log targets: {'met' if all_met else 'NOT met'}")
    print_summary(
        "call log",
        [
            Goal("first page whole / SQL p95 at 50 rows", ratios[50], 2.0),
            Goal("at 200 rows", ratios[200], 2.0),
            Goal("common search log SQL / keyset log SQL p95", log_sql[common] / log_sql[keyset],
                 1.5),
            Goal("rare search", log_sql[rare] / log_sql[keyset], 1.5),
            Goal("deep page / first page p95", deep / first, DEEP_RATIO_TARGET),
            Goal("callops / Django admin p95, first page", peer["first page"], 1.0),
            Goal("filtered", peer["filtered: outcome + agent"], 1.0),
        ],
    )  # fmt: skip

    connection.close()
    if not args.keep:
        drop_database(url)


if __name__ == "__main__":
    main()
