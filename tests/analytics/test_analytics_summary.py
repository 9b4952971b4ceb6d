"""The analytics summary: every figure it gives equals the same figure computed straight from
the calls table, through late changes, deletions, time zones, crashes and concurrent refreshes."""

from __future__ import annotations

import random
import statistics
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from analytics import figures, report, summary, summary_refresh, summary_triggers
from analytics.models import (
    CallDaySummary,
    CallHourSummary,
    CallHourTotal,
    DurationDaySummary,
    SummaryChange,
    SummaryState,
)
from analytics.tasks import refresh_analytics_summary
from calls.models import Call, CallOutcome, CallReview, CallState, CommonOutcome
from calls.outcomes import translate_outcome_names
from dashboard.celery import app as celery_app
from tests.factories import (
    AgentFactory,
    CallFactory,
    CallReviewFactory,
    CampaignFactory,
    UserFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db

# Two weeks around the start of US daylight saving time (Sunday 8 March 2026).
RANGE = {"since": "2026-03-02", "until": "2026-03-15"}
FIRST_DAY = date(2026, 3, 2)
ZONES = ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York")
OUTCOMES = {
    CallOutcome.COMPLETED: "AGENT_HANGUP",
    CallOutcome.NOT_PICKED: "CALL_NOT_PICKED",
    CallOutcome.HUNG_UP: "USER_HANGUP",
    CallOutcome.VOICEMAIL: "VOICEMAIL_REACHED",
    CallOutcome.TRANSFERRED: "",
}
QUICK = ("day", "agent")
DURATIONS = (0, 4, 5, 29, 60, 299, 300, 314, 899, 900, 1800, 3599, 3600, 7300, 90_000)


def params(group: str) -> figures.AnalyticsParams:
    query = QueryDict(mutable=True)
    query.update({**RANGE, "group": group})
    return figures.analytics_params(query)[1]


def tables(*, use_summary: bool, groupings=tuple(figures.GROUPINGS)) -> dict[tuple, tuple]:
    """Every chart's table (the numbers the page and its CSV show), for these groupings."""
    result = {}
    for group in groupings:
        built = report.analytics_report(params(group), use_summary=use_summary)
        for chart in built.charts:
            result[(group, chart.key)] = (chart.columns, chart.rows)
    return result


def assert_summary_matches_the_calls_table(
    *, pending: bool | None = None, what: str = "", groupings=tuple(figures.GROUPINGS)
) -> None:
    sources = summary.sources_for(
        params("day").start, params("day").end, timezone.get_current_timezone()
    )
    assert sources.using_summary
    if pending is not None:
        assert (sources.pending_hours > 0) == pending, what
    from_summary = tables(use_summary=True, groupings=groupings)
    from_calls = tables(use_summary=False, groupings=groupings)
    assert from_summary.keys() == from_calls.keys()
    for key in from_calls:
        assert from_summary[key] == from_calls[key], (what, key)


def at_random(rng: random.Random) -> datetime:
    """Any minute of the range, plus a day either side (local days differ from UTC days)."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return start + timedelta(minutes=rng.randrange(17 * 24 * 60), seconds=rng.randrange(60))


@pytest.fixture
def world():
    rng = random.Random(20260308)
    priced = VendorAccountFactory(name="Priced", price_per_minute=Decimal("0.0850"))
    unpriced = VendorAccountFactory(name="Unpriced")
    agents = [AgentFactory(vendor_account=priced), AgentFactory(vendor_account=unpriced)]
    agents.append(AgentFactory(vendor_account=priced, name="Leaving soon"))
    campaigns = [CampaignFactory(vendor_account=priced), CampaignFactory(vendor_account=priced)]
    calls = []
    for _ in range(160):
        agent = rng.choice([*agents, None])
        ended = rng.random() < 0.85
        outcome = rng.choice(list(OUTCOMES)) if ended else ""
        calls.append(
            Call(
                vendor_account=agent.vendor_account if agent else priced,
                agent=agent,
                campaign=rng.choice([*campaigns, None, None]),
                to_number="+14155550100",
                state=CallState.ENDED if ended else rng.choice([CallState.FAILED, "running"]),
                outcome=outcome,
                vendor_outcome=OUTCOMES.get(outcome, ""),
                common_outcome=translate_outcome_names([outcome])[0] if outcome else "",
                duration_seconds=rng.choice(DURATIONS) if ended and rng.random() < 0.9 else None,
            )
        )
    Call.objects.bulk_create(calls)
    for call in calls:
        call.created_at = at_random(rng)
    Call.objects.bulk_update(calls, ["created_at"])  # one statement: the bulk trigger path
    reviewer = UserFactory()
    for call in rng.sample(calls, 40):
        CallReviewFactory(
            call=call,
            reviewer=reviewer,
            is_reviewed=rng.random() < 0.8,
            rating=rng.choice([None, 1, 2, 3, 4, 5]),
        )
    return {"rng": rng, "calls": calls, "agents": agents, "priced": priced}


def late_changes(world) -> list[tuple[str, Callable[[], object]]]:
    """Everything that can happen to calls the summary already counted, one step at a time."""
    rng = world["rng"]
    # Calls well inside the range in every zone, so each step changes a figure on the page.
    middle = Q(created_at__gte=datetime(2026, 3, 3, tzinfo=UTC)) & Q(
        created_at__lt=datetime(2026, 3, 14, tzinfo=UTC)
    )
    calls = list(Call.objects.filter(middle).order_by("pk"))
    first, second, third, fourth, fifth, sixth = rng.sample(calls, 6)
    reviews = CallReview.objects.filter(call__in=Call.objects.filter(middle)).order_by("pk")

    def late_outcome():
        first.refresh_from_db()
        first.outcome, first.vendor_outcome = CallOutcome.COMPLETED, "MAX_DURATION"
        first.save()

    def late_transcript():
        # Only the common outcome changes: the callee's greeting was a machine's.
        Call.objects.filter(pk=sixth.pk).update(common_outcome=CommonOutcome.VOICEMAIL)

    def review_rating():
        review = reviews.first()
        review.rating = 1 if review.rating != 1 else 5
        review.save()

    def new_call():
        call = CallFactory(
            vendor_account=world["priced"],
            agent=world["agents"][0],
            state=CallState.ENDED,
            outcome=CallOutcome.COMPLETED,
            duration_seconds=42,
        )
        # As if it were placed in the range's last hour (the "current hour").
        Call.objects.filter(pk=call.pk).update(created_at=datetime(2026, 3, 15, 10, 40, tzinfo=UTC))

    def moved():
        Call.objects.filter(pk=third.pk).update(
            created_at=datetime(2026, 3, 5, 12, 0, tzinfo=UTC) + timedelta(minutes=37)
        )

    return [
        ("a late webhook changes an old call's outcome", late_outcome),
        ("a late transcript changes only the common outcome", late_transcript),
        (
            "a late duration",
            lambda: Call.objects.filter(pk=second.pk).update(duration_seconds=1234),
        ),
        ("Revont's import moves a call to its real time", moved),
        ("a review's rating changes", review_rating),
        ("a review is deleted", lambda: reviews.last().delete()),
        ("a new review", lambda: CallReviewFactory(call=fourth, rating=3)),
        ("a reviewed call is deleted", lambda: fifth.delete()),
        ("an agent is deleted: its calls keep going, with no agent", world["agents"][2].delete),
        (
            "a bulk update",
            lambda: Call.objects.filter(outcome=CallOutcome.VOICEMAIL).update(
                outcome=CallOutcome.NOT_PICKED
            ),
        ),
        ("a call placed now", new_call),
    ]


def apply_all(changes) -> None:
    for _what, change in changes:
        change()


@pytest.mark.parametrize("zone", ZONES)
def test_it_gives_the_figures_of_the_calls_table_through_late_changes(world, settings, zone):
    settings.TIME_ZONE = zone
    summary_refresh.refresh_summary()
    assert_summary_matches_the_calls_table(pending=False)

    for what, change in late_changes(world):
        change()
        # Not refreshed yet: the changed hours come from the calls table, the rest from the
        # summary. (A change the triggers missed would leave a stale hour here.)
        # (Days and agents, to keep this quick: weeks are made of days, accounts like agents.)
        assert_summary_matches_the_calls_table(pending=True, what=what, groupings=QUICK)
        result = summary_refresh.refresh_summary()
        assert result.status == "done"
        assert not SummaryChange.objects.exists()
        assert_summary_matches_the_calls_table(pending=False, what=what, groupings=QUICK)
    assert_summary_matches_the_calls_table(pending=False)


def test_it_counts_what_the_hand_computed_dataset_says_in_a_half_hour_zone(settings):
    """Calls at 18:20 and 18:40 UTC are on different local days in India (+05:30)."""
    settings.TIME_ZONE = "Asia/Kolkata"
    agent = AgentFactory()
    for minute in (20, 40):
        call = CallFactory(vendor_account=agent.vendor_account, agent=agent)
        Call.objects.filter(pk=call.pk).update(
            created_at=datetime(2026, 3, 4, 18, minute, tzinfo=UTC)
        )
    summary_refresh.refresh_summary()
    rows = {
        row.group.label: row.calls
        for row in figures.summary_rows(
            params("day"),
            figures.call_stats(params("day"), _sources()),
            {},
        )
    }
    assert (rows["4 Mar"], rows["5 Mar"]) == (1, 1)  # 23:50 on the 4th, 00:10 on the 5th
    grid = figures.heat_map_grid(_sources())
    assert (grid[2][23], grid[3][0]) == (1, 1)  # Wednesday 23h, Thursday 00h


def _sources() -> summary.Sources:
    return summary.sources_for(
        params("day").start, params("day").end, timezone.get_current_timezone()
    )


def test_it_maps_a_utc_hour_to_the_local_hours_it_overlaps():
    kolkata, new_york = ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")
    ten = datetime(2026, 3, 4, 10, tzinfo=UTC)
    assert summary.buckets_of_hour(ten, ZoneInfo("UTC")) == {(date(2026, 3, 4), 10)}
    assert summary.buckets_of_hour(ten, kolkata) == {(date(2026, 3, 4), 15), (date(2026, 3, 4), 16)}
    # Clocks go back at 06:00 UTC on 1 November 2026: 01:00–01:59 happens twice, one local hour.
    first, second = datetime(2026, 11, 1, 5, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)
    assert summary.buckets_of_hour(first, new_york) == {(date(2026, 11, 1), 1)}
    assert summary.buckets_of_hour(second, new_york) == {(date(2026, 11, 1), 1)}
    # Clocks go forward at 07:00 UTC on 8 March 2026: 02:00 local never happens.
    assert summary.buckets_of_hour(datetime(2026, 3, 8, 7, tzinfo=UTC), new_york) == {
        (date(2026, 3, 8), 3)
    }


@pytest.mark.parametrize(
    ("zone", "around"),
    [
        ("America/New_York", datetime(2026, 3, 8, tzinfo=UTC)),  # clocks forward
        ("America/New_York", datetime(2026, 11, 1, tzinfo=UTC)),  # clocks back
        ("Australia/Lord_Howe", datetime(2026, 4, 5, tzinfo=UTC)),  # back half an hour
        ("Australia/Lord_Howe", datetime(2026, 10, 4, tzinfo=UTC)),  # forward half an hour
        ("America/Santiago", datetime(2026, 4, 5, tzinfo=UTC)),  # back at local midnight
        ("Asia/Kolkata", datetime(2026, 3, 4, tzinfo=UTC)),
        ("Asia/Kathmandu", datetime(2026, 3, 4, tzinfo=UTC)),
        ("Pacific/Chatham", datetime(2026, 4, 5, tzinfo=UTC)),  # +12:45 / +13:45
    ],
)
def test_every_instant_falls_in_the_local_hours_and_windows_it_is_looked_for_in(zone, around):
    tz = ZoneInfo(zone)
    for minute in range(0, 3 * 24 * 60, 5):
        instant = around - timedelta(days=1) + timedelta(minutes=minute)
        local = instant.astimezone(tz)
        bucket = (local.date(), local.hour)
        # The refresh and the page find this instant's local hour from its UTC hour...
        utc_hour = instant.replace(minute=0, second=0, microsecond=0)
        assert bucket in summary.buckets_of_hour(utc_hour, tz), instant
        # ...and look for its calls in a window of UTC time that holds it.
        start, end = summary.bucket_window(bucket, tz)
        assert start <= instant < end, (instant, bucket, start, end)
        assert end - start <= timedelta(hours=2)


def test_it_reads_summarised_days_from_the_summary(client_as, world):
    """The page really reads the summary (a test that could not tell would prove nothing)."""
    summary_refresh.refresh_summary()
    row = CallDaySummary.objects.filter(day=date(2026, 3, 5)).order_by("pk").first()
    before = figures.summary_rows(params("day"), figures.call_stats(params("day"), _sources()), {})
    CallDaySummary.objects.filter(pk=row.pk).update(calls=row.calls + 1000)
    after = figures.summary_rows(params("day"), figures.call_stats(params("day"), _sources()), {})
    assert sum(r.calls for r in after) == sum(r.calls for r in before) + 1000
    # The heat map reads the hour totals, the medians the histograms.
    grid = figures.heat_map_grid(_sources())
    total = CallHourTotal.objects.filter(day=date(2026, 3, 5)).order_by("pk").first()
    CallHourTotal.objects.filter(pk=total.pk).update(calls=total.calls + 7)
    assert sum(map(sum, figures.heat_map_grid(_sources()))) == sum(map(sum, grid)) + 7
    histograms = figures.duration_histograms(params("day"), _sources())
    DurationDaySummary.objects.filter(day=date(2026, 3, 5), slice="all").update(calls=0)
    assert figures.duration_histograms(params("day"), _sources()) != histograms


def test_it_recomputes_only_the_hours_that_changed(world):
    summary_refresh.refresh_summary()
    call = next(c for c in world["calls"] if c.state == CallState.ENDED)
    call.refresh_from_db()
    hour = call.created_at.replace(minute=0, second=0, microsecond=0)
    untouched = set(
        CallHourSummary.objects.exclude(day=hour.date(), hour=hour.hour).values_list(
            "pk", flat=True
        )
    )
    Call.objects.filter(pk=call.pk).update(outcome=CallOutcome.DROPPED)
    result = summary_refresh.refresh_summary()
    assert (result.hours, result.changes) == (1, 1)
    still_there = set(CallHourSummary.objects.values_list("pk", flat=True))
    assert untouched <= still_there  # other hours' rows were not rewritten
    assert_summary_matches_the_calls_table(pending=False)


def test_it_records_changes_to_summed_columns_only():
    call = CallFactory(state=CallState.RUNNING)
    SummaryChange.objects.all().delete()
    Call.objects.filter(pk=call.pk).update(summary="A summary", next_sync_at=timezone.now())
    assert not SummaryChange.objects.exists()  # not a figure: no work for the refresh
    Call.objects.filter(pk=call.pk).update(state=CallState.ENDED)
    assert SummaryChange.objects.count() == 1
    old_hour = call.created_at.replace(minute=0, second=0, microsecond=0)
    assert SummaryChange.objects.get().hour == old_hour
    SummaryChange.objects.all().delete()
    moved = datetime(2026, 3, 3, 8, 15, tzinfo=UTC)
    Call.objects.filter(pk=call.pk).update(created_at=moved)
    assert set(SummaryChange.objects.values_list("hour", flat=True)) == {
        old_hour,
        moved.replace(minute=0),
    }
    SummaryChange.objects.all().delete()
    review = CallReviewFactory(call=call, rating=None)
    review.note = "not a figure"
    review.save()
    review.rating = 2
    review.save()
    review.delete()
    assert list(SummaryChange.objects.values_list("call_id", flat=True)) == [call.pk] * 3
    Call.objects.filter(pk=call.pk).delete()
    assert SummaryChange.objects.filter(hour=moved.replace(minute=0)).exists()


def test_it_reads_many_scattered_changed_hours_as_one_or_of_ranges_too(world, monkeypatch):
    summary_refresh.refresh_summary()
    apply_all(late_changes(world))
    sources = _sources()
    assert len(sources.call_ranges) > 2
    assert_summary_matches_the_calls_table(pending=True)
    monkeypatch.setattr(summary, "MAX_RANGES", 2)  # past it, one OR of every range
    assert_summary_matches_the_calls_table(pending=True)


def test_it_loses_nothing_when_a_refresh_dies_half_way(world, monkeypatch):
    summary_refresh.refresh_summary()
    apply_all(late_changes(world))
    pending = SummaryChange.objects.count()

    def die(change_ids):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(summary_refresh, "_forget", die)
    with pytest.raises(RuntimeError):
        summary_refresh.refresh_summary()
    assert SummaryChange.objects.count() == pending  # rolled back with the half-written rows
    assert_summary_matches_the_calls_table(pending=True)
    monkeypatch.undo()
    assert summary_refresh.refresh_summary().status == "done"
    assert_summary_matches_the_calls_table(pending=False)


def test_it_rebuilds_when_the_time_zone_changes(world, settings):
    summary_refresh.refresh_summary()
    settings.TIME_ZONE = "Asia/Kolkata"
    # Rows keyed by UTC days mean nothing in India: the page reads the calls table meanwhile.
    assert not _sources().using_summary
    result = summary_refresh.refresh_summary()
    assert result.rebuilt
    assert SummaryState.objects.get().time_zone == "Asia/Kolkata"
    assert_summary_matches_the_calls_table(pending=False)


def test_it_puts_back_triggers_a_table_rebuild_dropped(world):
    summary_refresh.refresh_summary()
    summary_triggers.drop_triggers()
    # A change nobody recorded (as when a SQLite migration rebuilds calls_call).
    Call.objects.filter(pk=world["calls"][0].pk).update(outcome=CallOutcome.DROPPED)
    assert not SummaryChange.objects.exists()
    assert not _sources().using_summary  # without its triggers the summary is not trusted
    result = summary_refresh.refresh_summary()
    assert result.rebuilt
    assert summary_triggers.triggers_installed()
    assert_summary_matches_the_calls_table(pending=False)


def test_the_backfill_command_fills_the_summary_and_says_so(world, capsys):
    call_command("analytics_backfill")
    assert "Analytics summary done: rebuilt" in capsys.readouterr().out
    assert _sources().using_summary
    assert_summary_matches_the_calls_table(pending=False)
    call_command("analytics_backfill", "--catch-up")
    assert "done: 0 hours" in capsys.readouterr().out


def test_beat_refreshes_the_summary_every_minute(world):
    schedule = celery_app.conf.beat_schedule["analytics-summary"]
    assert schedule == {"task": "analytics.tasks.refresh_analytics_summary", "schedule": 60.0}
    assert refresh_analytics_summary.delay().get().startswith("done")
    assert _sources().using_summary


def test_the_page_says_when_the_summary_is_not_built_yet(client_as, world):
    page = client_as("manager").get(reverse("analytics"), RANGE).content.decode()
    assert "The analytics summary is being built" in page
    summary_refresh.refresh_summary()
    page = client_as("manager").get(reverse("analytics"), RANGE).content.decode()
    assert "The analytics summary is being built" not in page


@pytest.mark.parametrize("seconds", [*DURATIONS, 1, 301, 901, 3601, 7199, 7200, 86_399, 86_400])
def test_it_buckets_durations_in_the_database_as_in_python(seconds):
    call = CallFactory(duration_seconds=seconds)
    bucket = (
        Call.objects.filter(pk=call.pk)
        .annotate(bucket=summary.duration_bucket())
        .values_list("bucket", flat=True)
        .get()
    )
    assert bucket == summary.bucket_of(seconds)
    width = summary.bucket_width(bucket)
    assert width is None or bucket <= seconds < bucket + width


def test_it_estimates_the_median_within_the_stated_bound():
    rng = random.Random(7)
    for size in (1, 2, 3, 10, 101, 1000):
        for scale in (40, 250, 700, 2500, 6000):
            durations = [int(rng.expovariate(1 / scale)) % 7200 for _ in range(size)]
            histogram: dict[int, int] = {}
            for seconds in durations:
                bucket = summary.bucket_of(seconds)
                histogram[bucket] = histogram.get(bucket, 0) + 1
            exact = statistics.median(durations)
            estimate = summary.median_from_histogram(histogram)
            middles = sorted(durations)[(size - 1) // 2 : size // 2 + 1]
            bound = max(summary.median_error_seconds(value) for value in middles)
            assert abs(estimate - exact) <= bound, (durations, estimate, exact)


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers: a second refresh waits for the first instead",
)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_second_refresh_at_the_same_time_does_nothing(world):
    summary_refresh.refresh_summary()
    apply_all(late_changes(world))
    holding, release = threading.Event(), threading.Event()

    def first_refresh_holding_the_lock():
        try:
            with transaction.atomic():
                SummaryState.objects.select_for_update().get(pk=1)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_refresh_holding_the_lock)
    thread.start()
    try:
        assert holding.wait(10)
        pending = SummaryChange.objects.count()
        assert summary_refresh.refresh_summary().status == "busy"
        assert SummaryChange.objects.count() == pending
    finally:
        release.set()
        thread.join(10)
    assert summary_refresh.refresh_summary().status == "done"
    assert_summary_matches_the_calls_table(pending=False)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_during_a_refresh_waits_for_the_next_one(world, monkeypatch):
    summary_refresh.refresh_summary()
    apply_all(late_changes(world))
    target = world["calls"][1]
    recompute = summary_refresh._recompute

    def recompute_then_a_webhook_lands(utc_hours, tz):
        recompute(utc_hours, tz)

        def webhook():
            try:
                Call.objects.filter(pk=target.pk).update(
                    outcome=CallOutcome.TRANSFERRED, duration_seconds=77
                )
            finally:
                connections.close_all()

        thread = threading.Thread(target=webhook)
        thread.start()
        thread.join(10)

    monkeypatch.setattr(summary_refresh, "_recompute", recompute_then_a_webhook_lands)
    assert summary_refresh.refresh_summary(max_seconds=0).status in ("done", "more")
    monkeypatch.undo()
    # The webhook's change row was not read by that refresh, so it is still pending.
    assert SummaryChange.objects.exists()
    assert_summary_matches_the_calls_table(pending=True)
    summary_refresh.refresh_summary()
    assert_summary_matches_the_calls_table(pending=False)
