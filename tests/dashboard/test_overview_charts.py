"""The overview's charts over HTTP: the figures are the calls table's, every bar a call-log link."""

from __future__ import annotations

import html
import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from analytics.summary_refresh import refresh_summary
from calls.models import Call, CallState, CommonOutcome
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def call_at(moment: datetime, outcome: str = "") -> Call:
    state = CallState.ENDED if outcome else CallState.RUNNING
    call = CallFactory(state=state, common_outcome=outcome)
    Call.objects.filter(pk=call.pk).update(created_at=moment)
    return call


def seed() -> None:
    today = timezone.localdate()
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    for hours, outcome in ((1, CommonOutcome.COMPLETED), (1, CommonOutcome.VOICEMAIL), (9, "")):
        call_at(midnight + timedelta(hours=hours, minutes=5), outcome)
    for hours in (1, 3, 3, 23):
        call_at(midnight - timedelta(days=1) + timedelta(hours=hours), CommonOutcome.NO_ANSWER)
    call_at(midnight - timedelta(days=3), CommonOutcome.COMPLETED)  # neither day


def bars(page: str, chart: str) -> dict[str, tuple[str, int]]:
    """{bar title: (link, value)} of one chart on the page."""
    section = page.split(f'id="chart-{chart}"', 1)[1].split("</section>", 1)[0]
    found = re.findall(
        r'<a class="bar-link" href="([^"]+)"><rect [^>]*><title>([^<]*)</title>', section
    )
    return {
        html.unescape(title).rsplit(": ", 1)[0]: (
            html.unescape(href),
            int(html.unescape(title).rsplit(": ", 1)[1]),
        )
        for href, title in found
    }


def expected_hours(day) -> dict[int, int]:
    counts: dict[int, int] = {}
    for created in Call.objects.values_list("created_at", flat=True):
        local = timezone.localtime(created)
        if local.date() == day:
            counts[local.hour] = counts.get(local.hour, 0) + 1
    return counts


@pytest.mark.parametrize("summarised", [False, True])
def test_it_charts_today_against_yesterday_as_the_calls_table_counts(client_as, summarised):
    seed()
    if summarised:
        refresh_summary()
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    page = client_as("operator").get("/").content.decode()
    hours = bars(page, "hours")
    for label, day in (("Today", today), ("Yesterday", yesterday)):
        counted = {
            int(title.split()[1]): value
            for title, (_link, value) in hours.items()
            if title.startswith(label + " ")
        }
        assert {hour: n for hour, n in counted.items() if n} == expected_hours(day)
        links = {link for title, (link, _value) in hours.items() if title.startswith(label + " ")}
        assert links == {f"/calls/?since={day.isoformat()}&until={day.isoformat()}"}


def test_it_links_each_outcome_bar_to_the_filtered_call_log(client_as):
    seed()
    today = timezone.localdate().isoformat()
    client = client_as("manager")
    outcomes = bars(client.get("/").content.decode(), "outcomes")
    assert outcomes == {
        "Completed": (f"/calls/?outcome=completed&since={today}&until={today}", 1),
        "Voicemail / machine": (f"/calls/?outcome=voicemail&since={today}&until={today}", 1),
        "No outcome yet": (f"/calls/?since={today}&until={today}", 1),
    }
    # The link opens exactly the calls the bar counts.
    log = client.get(outcomes["Completed"][0])
    assert log.status_code == 200
    completed_today = Call.objects.filter(
        outcome=CommonOutcome.COMPLETED, created_at__date=timezone.localdate()
    )
    for call in completed_today:
        assert f"/calls/{call.pk}/" in log.content.decode()


def test_it_draws_the_charts_into_the_polled_partial(client_as):
    seed()
    response = client_as("operator").get("/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'id="chart-hours"' in response.content.decode()
    assert 'id="chart-outcomes"' in response.content.decode()
