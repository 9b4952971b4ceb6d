"""Analytics: figures against small hand-computed datasets, CSV export, safe SVG.

Every figure test runs three ways (the `mode` fixture): straight from the calls table (the
summary not built yet), from the refreshed summary, and with every call changed after the last
refresh (so the calls table fills in just those hours).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import figures, report, summary_refresh
from analytics import summary as summary_
from calls.models import Call, CallOutcome, CallState, CommonOutcome, PostCallAction, StepStatus
from campaigns.models import CampaignKind
from tests.factories import (
    AgentFactory,
    CallFactory,
    CallReviewFactory,
    CampaignFactory,
    ContactFactory,
    DialEntryFactory,
    PostCallRuleFactory,
    PostCallStepFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db

MODES = ("calls", "summary", "pending")

# Monday 2 March 2026 to Sunday 15 March 2026: two whole ISO weeks.
RANGE = {"since": "2026-03-02", "until": "2026-03-15"}
HOSTILE = '<script>alert("agent")</script>'


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(2026, 3, day, hour, minute))  # noqa: DTZ001


def call_at(when: datetime, **fields) -> Call:
    fields.setdefault("state", CallState.ENDED)
    call = CallFactory(**fields)
    Call.objects.filter(pk=call.pk).update(created_at=when)
    call.created_at = when
    return call


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def dataset(mode):
    """Seven calls in the range, one before it and one after it.

    Day 2 (Mon): completed 60 s, hung up 30 s, not picked (no duration)  -> 3 calls, 2 connected
    Day 4 (Wed): voicemail 10 s                                          -> 1 call, 0 connected
    Day 10 (Tue): completed 100 s, transferred 20 s, failed (no outcome) -> 3 calls, 2 connected
    """
    if mode == "pending":
        summary_refresh.refresh_summary()  # built while empty: every call below is a pending change
    account = VendorAccountFactory(name="Acme voice", price_per_minute=Decimal("0.10"))
    other_account = VendorAccountFactory(name="Other voice")  # no price
    alice = AgentFactory(vendor_account=account, name="Alice")
    hostile = AgentFactory(vendor_account=other_account, name=HOSTILE)
    campaign = CampaignFactory(vendor_account=account, agent=alice, name="Spring renewals")
    contact = ContactFactory()
    common = {"vendor_account": account, "agent": alice}
    calls = {
        "c1": call_at(
            at(2, 9),
            outcome=CallOutcome.COMPLETED,
            common_outcome=CommonOutcome.COMPLETED,
            duration_seconds=60,
            campaign=campaign,
            contact=contact,
            vendor_outcome="AGENT_HANGUP",
            **common,
        ),
        "c2": call_at(
            at(2, 9, 30),
            outcome=CallOutcome.HUNG_UP,
            common_outcome=CommonOutcome.COMPLETED,
            duration_seconds=30,
            campaign=campaign,
            contact=contact,
            vendor_outcome="USER_HANGUP",
            **common,
        ),
        "c3": call_at(
            at(2, 14),
            outcome=CallOutcome.NOT_PICKED,
            common_outcome=CommonOutcome.NO_ANSWER,
            campaign=campaign,
            vendor_outcome="CALL_NOT_PICKED",
            **common,
        ),
        "c4": call_at(
            at(4, 14),
            outcome=CallOutcome.VOICEMAIL,
            common_outcome=CommonOutcome.VOICEMAIL,
            duration_seconds=10,
            vendor_outcome="VOICEMAIL_REACHED",
            **common,
        ),
        "c5": call_at(
            at(10, 9),
            outcome=CallOutcome.COMPLETED,
            common_outcome=CommonOutcome.COMPLETED,
            duration_seconds=100,
            vendor_account=other_account,
            agent=hostile,
            vendor_outcome="AGENT_HANGUP",
        ),
        "c6": call_at(
            at(10, 9, 5),
            outcome=CallOutcome.TRANSFERRED,
            common_outcome=CommonOutcome.TRANSFERRED,
            duration_seconds=20,
            vendor_account=other_account,
            agent=hostile,
        ),
        "c7": call_at(
            at(10, 23),
            state=CallState.FAILED,
            common_outcome=CommonOutcome.FAILED_VENDOR,
            campaign=campaign,
            **common,
        ),
    }
    call_at(at(1, 12), outcome=CallOutcome.COMPLETED, duration_seconds=999, **common)
    call_at(at(16, 12), outcome=CallOutcome.COMPLETED, duration_seconds=999, **common)
    CallReviewFactory(call=calls["c1"], rating=5)
    CallReviewFactory(call=calls["c2"], rating=2)
    CallReviewFactory(call=calls["c5"], rating=4)
    if mode == "summary":
        summary_refresh.refresh_summary()
    sources = sources_of(params("day"))
    assert sources.using_summary == (mode != "calls")
    assert (sources.pending_hours > 0) == (mode == "pending")
    return calls


def params(group: str) -> figures.AnalyticsParams:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update({**RANGE, "group": group})
    return figures.analytics_params(query)[1]


def sources_of(params_: figures.AnalyticsParams) -> summary_.Sources:
    return summary_.sources_for(params_.start, params_.end, timezone.get_current_timezone())


def stats(group: str) -> dict:
    return figures.call_stats(params(group), sources_of(params(group)))


def summary(group: str) -> dict[str, figures.SummaryRow]:
    params_ = params(group)
    sources = sources_of(params_)
    rows = figures.summary_rows(
        params_,
        figures.call_stats(params_, sources),
        figures.duration_histograms(params_, sources),
    )
    return {row.group.label: row for row in rows}


def test_it_counts_calls_and_connected_rate_by_day(dataset):
    rows = summary("day")
    assert len(rows) == 14  # every day of the range, empty ones too
    assert rows["2 Mar"].calls == 3
    assert rows["2 Mar"].connected == 2
    assert rows["2 Mar"].connected_rate == pytest.approx(200 / 3)
    assert rows["2 Mar"].avg_duration == pytest.approx(45)  # (60 + 30) / 2: no duration skipped
    assert rows["3 Mar"].calls == 0
    assert rows["3 Mar"].connected_rate is None
    assert rows["4 Mar"].calls == 1
    assert rows["4 Mar"].connected == 0
    assert rows["10 Mar"].calls == 3
    assert rows["10 Mar"].avg_duration == pytest.approx(60)
    assert sum(row.calls for row in rows.values()) == 7  # the calls outside the range are not


def test_it_groups_by_week(dataset):
    rows = summary("week")
    assert list(rows) == ["wk 2 Mar", "wk 9 Mar"]
    assert (rows["wk 2 Mar"].calls, rows["wk 2 Mar"].connected) == (4, 2)
    assert rows["wk 2 Mar"].avg_duration == pytest.approx(100 / 3)
    assert (rows["wk 9 Mar"].calls, rows["wk 9 Mar"].connected) == (3, 2)


def test_it_groups_by_vendor_account_agent_and_campaign(dataset):
    accounts = summary("account")
    assert (accounts["Acme voice"].calls, accounts["Acme voice"].connected) == (5, 2)
    assert (accounts["Other voice"].calls, accounts["Other voice"].connected) == (2, 2)
    agents = summary("agent")
    assert agents["Alice"].calls == 5
    assert agents[HOSTILE].avg_duration == pytest.approx(60)
    campaigns = summary("campaign")
    assert campaigns["Spring renewals"].calls == 4
    assert campaigns["No campaign"].calls == 3
    # Biggest group first.
    assert list(campaigns) == ["Spring renewals", "No campaign"]


def test_it_estimates_the_median_duration_within_half_a_bucket(dataset):
    rows = summary("week")
    # 10, 30, 60 s: exactly 30; the 30–34 s bucket stands for 32.
    assert rows["wk 2 Mar"].median_duration == pytest.approx(32)
    # 20 and 100 s: exactly 60; (22 + 102) / 2.
    assert rows["wk 9 Mar"].median_duration == pytest.approx(62)
    for exact, row in ((30, rows["wk 2 Mar"]), (60, rows["wk 9 Mar"])):
        assert abs(row.median_duration - exact) <= summary_.median_error_seconds(exact)


def test_it_says_the_median_is_an_estimate_and_how_close(client_as, dataset):
    page = client_as("manager").get(reverse("analytics"), RANGE).content.decode()
    assert "Median duration s (estimate)" in page
    assert "±2 s up to 5 min, ±7 s up to 15 min" in page


def test_it_breaks_down_outcomes_per_group(dataset):
    groups, counts = figures.outcome_rows(params("agent"), stats("agent"))
    alice = next(group.key for group in groups if group.label == "Alice")
    # In the common language a callee's hang-up is a completed conversation too.
    assert counts[CommonOutcome.COMPLETED][alice] == 2
    assert counts[CommonOutcome.NO_ANSWER][alice] == 1
    assert counts[CommonOutcome.FAILED_VENDOR][alice] == 1
    assert figures.reason_rows(stats("day"))[0] == ("AGENT_HANGUP", 2)


def test_it_counts_calls_per_weekday_and_hour(dataset):
    grid = figures.heat_map_grid(sources_of(params("day")))
    assert grid[0][9] == 2  # Monday 09:00 and 09:30
    assert grid[0][14] == 1
    assert grid[2][14] == 1  # Wednesday
    assert grid[1][9] == 2  # Tuesday 10 March
    assert grid[1][23] == 1
    assert sum(map(sum, grid)) == 7


def test_it_averages_review_scores_per_group(dataset):
    rows = {row.group.label: row for row in figures.review_rows(params("agent"), stats("agent"))}
    assert (rows["Alice"].reviews, rows["Alice"].rated) == (2, 2)
    assert rows["Alice"].avg_rating == pytest.approx(3.5)
    assert rows[HOSTILE].avg_rating == pytest.approx(4)


def test_it_builds_the_campaign_funnel_from_dial_entries(dataset):
    campaign = dataset["c1"].campaign
    for attempts, last_outcome in (
        (2, CallOutcome.COMPLETED),
        (1, CallOutcome.HUNG_UP),
        (3, CallOutcome.NOT_PICKED),
        (0, ""),
    ):
        DialEntryFactory(campaign=campaign, attempts=attempts, last_outcome=last_outcome)
    (row,) = figures.funnel_rows(params("day"), sources_of(params("day")))
    assert row.name == "Spring renewals"
    # Four contacts, three called, two whose latest call connected, one completed.
    assert (row.contacts, row.dialled, row.connected, row.completed) == (4, 3, 2, 1)
    assert row.followups == 0


def test_it_counts_native_campaigns_from_their_own_dial_entries(dataset):
    # The vendor's counts run ahead of (or behind) what callops stored; the funnel follows the
    # entries, which the native sync moves with each call it stores, so it agrees with the log.
    native = CampaignFactory(
        name="Native push",
        kind=CampaignKind.NATIVE,
        launched_at=at(5),
        vendor_stats={"contacts": 3, "dialled": 3, "connected": 3, "completed": 3},
    )
    for attempts, last_outcome in (
        (1, CallOutcome.COMPLETED),
        (1, CallOutcome.NOT_PICKED),
        (0, ""),
    ):
        DialEntryFactory(campaign=native, attempts=attempts, last_outcome=last_outcome)
    CampaignFactory(name="Launched before the range", launched_at=at(1) - timedelta(days=3))
    rows = {row.name: row for row in figures.funnel_rows(params("day"), sources_of(params("day")))}
    assert set(rows) == {"Spring renewals", "Native push"}
    assert (rows["Native push"].contacts, rows["Native push"].dialled) == (3, 2)
    assert (rows["Native push"].connected, rows["Native push"].completed) == (1, 1)


def test_it_counts_contacts_a_follow_up_reached_in_the_funnel(client_as, dataset):
    call = dataset["c1"]
    for status in (StepStatus.DONE, StepStatus.FAILED):
        PostCallStepFactory(
            call=call,
            rule=PostCallRuleFactory(vendor_account=call.vendor_account),
            action=PostCallAction.FOLLOW_UP,
            status=status,
        )
    # A second follow-up that reached the same number counts the contact once.
    PostCallStepFactory(
        call=call,
        rule=PostCallRuleFactory(vendor_account=call.vendor_account),
        action=PostCallAction.FOLLOW_UP,
        status=StepStatus.DONE,
    )
    (row,) = figures.funnel_rows(params("day"), sources_of(params("day")))
    assert row.followups == 1
    page = client_as("manager").get(reverse("analytics"), RANGE).content.decode()
    assert "not available yet" not in page
    assert "dial entries are not" not in page


def test_it_estimates_cost_per_group_from_each_accounts_price(dataset):
    rows = {row.group.label: row for row in figures.cost_rows(params("account"), stats("account"))}
    # Acme: 60 + 30 + 10 s at 0.10 a minute; Other has no price.
    assert rows["Acme voice"].minutes == pytest.approx(100 / 60)
    assert rows["Acme voice"].cost == Decimal(100) * Decimal("0.10") / 60
    assert rows["Acme voice"].unpriced_minutes == 0
    assert rows["Other voice"].cost is None
    assert rows["Other voice"].unpriced_minutes == pytest.approx(2)
    days = {row.group.label: row for row in figures.cost_rows(params("day"), stats("day"))}
    assert days["2 Mar"].cost == Decimal(90) * Decimal("0.10") / 60
    # The failed call c7 is on Acme (nothing recorded); c5 and c6 on Other have no price.
    assert days["10 Mar"].cost == 0
    assert days["10 Mar"].unpriced_minutes == pytest.approx(2)
    assert days["3 Mar"].cost is None  # no calls


def test_it_exports_the_estimated_cost_with_dashes_where_no_price_is_set(
    client_as, dataset, settings
):
    settings.CALLOPS_CURRENCY = "EUR"
    response = client_as("manager").get(
        reverse("analytics_export"), {**RANGE, "group": "agent", "chart": "cost"}
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Agent", "Minutes recorded", "Estimated cost EUR", "Minutes without a price"]
    by_agent = {row[0]: row[1:] for row in rows[1:]}
    assert by_agent["Alice"] == ["1.7", "0.17", "0.0"]
    assert by_agent[HOSTILE] == ["2.0", "—", "2.0"]


def test_it_renders_every_chart_as_svg_with_values_and_a_table(client_as, dataset):
    for group in figures.GROUPINGS:
        response = client_as("manager").get(reverse("analytics"), {**RANGE, "group": group})
        assert response.status_code == 200
        page = response.content.decode()
        assert page.count("<svg") == len(report.CHART_KEYS)
        assert page.count("<details") == len(report.CHART_KEYS)
        assert "Contacts: its dial entries" in page  # the funnel says what it uses


def test_it_shows_the_numbers_on_the_day_chart(client_as, dataset):
    page = client_as("manager").get(reverse("analytics"), RANGE).content.decode()
    assert '<text class="value"' in page
    assert ">66.7%</text>" in page  # connected rate on 2 March printed on the chart


def test_it_escapes_a_hostile_agent_name_in_the_svg(client_as, dataset):
    page = client_as("manager").get(reverse("analytics"), {**RANGE, "group": "agent"})
    text = page.content.decode()
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(&quot;agent&quot;)&lt;/script&gt;" in text


def test_it_exports_a_chart_as_csv(client_as, dataset):
    response = client_as("manager").get(
        reverse("analytics_export"), {**RANGE, "group": "account", "chart": "calls"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["Vendor account", "Calls placed", "Connected", "Connected rate %"]
    assert rows[1][:4] == ["Acme voice", "5", "2", "40.0"]
    assert rows[2][:4] == ["Other voice", "2", "2", "100.0"]


def test_it_exports_the_heat_map_and_refuses_unknown_charts(client_as, dataset):
    client = client_as("manager")
    response = client.get(reverse("analytics_export"), {**RANGE, "chart": "heatmap"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][0] == "Mon"
    assert rows[1][1 + 9] == "2"
    assert client.get(reverse("analytics_export"), {"chart": "nope"}).status_code == 400


def test_it_neutralises_formulas_in_the_csv(client_as):
    agent = AgentFactory(name="=HYPERLINK(1)")
    call_at(at(3), agent=agent, vendor_account=agent.vendor_account)
    response = client_as("manager").get(
        reverse("analytics_export"), {**RANGE, "group": "agent", "chart": "calls"}
    )
    assert "'=HYPERLINK(1)" in response.content.decode()


def test_it_defaults_to_the_last_fourteen_days_by_day(client_as):
    response = client_as("admin").get(reverse("analytics"))
    params_ = response.context["params"]
    assert params_.grouping == "day"
    assert (params_.end - params_.start).days == 13
    assert params_.end == timezone.localdate()


def test_it_answers_an_htmx_grouping_switch_with_the_report_only(client_as, dataset):
    response = client_as("manager").get(
        reverse("analytics"), {**RANGE, "group": "week"}, headers={"HX-Request": "true"}
    )
    assert b"<html" not in response.content
    assert b'id="report"' in response.content


def test_it_runs_a_fixed_number_of_queries(client_as, dataset, django_assert_max_num_queries):
    # Session and user, the summary's state, its triggers and pending hours, then one query per
    # source (day summary, hour summary, calls) for the sums, the histogram, the heat map and
    # the funnel's campaigns, names, prices and the funnel: never one per call or per group.
    client = client_as("manager")
    with django_assert_max_num_queries(24):
        client.get(reverse("analytics"), {**RANGE, "group": "agent"})


def test_it_keeps_analytics_from_operators(client_as):
    assert client_as("operator").get(reverse("analytics")).status_code == 403
    assert client_as("operator").get(reverse("analytics_export")).status_code == 403
