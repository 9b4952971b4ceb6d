"""Pages that look finished: measured in a real browser at 1280 px, and screenshotted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.summary_refresh import refresh_summary
from calls.models import Call, CallOutcome, CallState, CommonOutcome
from campaigns.models import DialState
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import (
    AgentFactory,
    CallFactory,
    CampaignFactory,
    DialEntryFactory,
    VoiceAccountFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Every text of a chart that must not run into an axis title.
OVERLAPS = """() => {
  const boxes = (svg, selector) => [...svg.querySelectorAll(selector)].map((el) => {
    const r = el.getBoundingClientRect();
    return {text: el.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  });
  const meet = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const found = [];
  for (const svg of document.querySelectorAll("svg.chart")) {
    const titles = boxes(svg, "text.axis-title");
    const others = boxes(svg, "text.tick, text.x-label, text.legend");
    for (const title of titles) for (const other of others)
      if (meet(title, other)) found.push(title.text + " / " + other.text);
  }
  return found;
}"""


def test_it_fits_the_admin_navigation_on_one_line_at_1280_px(page, role_users, screenshot):
    # With a voice platform the bar also holds its widest badge ("humans: unknown").
    VoiceAccountFactory(name="Voice")
    sign_in(page, role_users["admin"].username, PASSWORD)
    page.wait_for_url("**/")
    page.locator("#human-agents [data-humans]").wait_for()
    links = page.locator(
        "header.topbar .brand, header.topbar nav a, header.topbar > *:not(nav):not(.brand)"
    )
    tops = {round(box["y"]) for box in (links.nth(i).bounding_box() for i in range(links.count()))}
    link_height = page.locator("header.topbar nav a").first.bounding_box()["height"]
    topbar = page.locator("header.topbar").bounding_box()
    screenshot("overview-admin-1280")
    assert max(tops) - min(tops) < link_height, tops
    assert topbar["height"] < 2 * link_height + 24


def test_it_scrolls_the_dial_entry_table_inside_its_panel(page, role_users, screenshot):
    campaign = CampaignFactory(name="Spring renewals")
    note = "Vendor said: the number is busy and asked to retry after the weekend " * 2
    for index in range(3):
        DialEntryFactory(
            campaign=campaign,
            state=DialState.EXHAUSTED,
            time_zone="America/Argentina/ComodRivadavia",
            note=note[: 280 - index],
            attempts=index,
        )
    page.set_viewport_size({"width": 1024, "height": 800})
    sign_in(page, role_users["admin"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/campaigns/{campaign.pk}/")
    panel = page.locator("#entries")
    panel.scroll_into_view_if_needed()
    screenshot("campaign-dial-entries-1024")
    sizes = panel.evaluate(
        """(panel) => {
          const table = panel.querySelector("table");
          const last = table.querySelector("thead th:last-child").getBoundingClientRect();
          return {
            pageWidth: document.documentElement.scrollWidth,
            viewport: window.innerWidth,
            tableWidth: table.scrollWidth,
            room: table.parentElement.clientWidth,
            lastRight: last.right,
            panelRight: panel.getBoundingClientRect().right,
          };
        }"""
    )
    # Every column, the last one too, is on screen inside the panel: nothing cut off.
    assert sizes["pageWidth"] <= sizes["viewport"], sizes
    assert sizes["tableWidth"] <= sizes["room"], sizes
    assert sizes["lastRight"] <= sizes["panelRight"], sizes


def analytics_calls() -> None:
    agent = AgentFactory(name="An agent with a rather long name indeed")
    now = timezone.now()
    for index in range(12):
        call = CallFactory(
            agent=agent,
            vendor_account=agent.vendor_account,
            state=CallState.ENDED,
            outcome=CallOutcome.COMPLETED if index % 2 else CallOutcome.VOICEMAIL,
            common_outcome=CommonOutcome.COMPLETED if index % 2 else CommonOutcome.VOICEMAIL,
            vendor_outcome="AGENT_HANGUP_AFTER_A_VERY_LONG_REASON" if index % 3 else "",
            duration_seconds=30 + 20 * index,
        )
        Call.objects.filter(pk=call.pk).update(created_at=now - timedelta(hours=index * 3))


def test_it_keeps_chart_axis_titles_clear_of_labels(page, role_users, screenshot):
    analytics_calls()
    refresh_summary()
    sign_in(page, role_users["manager"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto("/analytics/")
    assert page.evaluate(OVERLAPS) == []
    page.get_by_label("Agent", exact=True).check()
    page.wait_for_url("**group=agent**")
    page.locator("#chart-calls text.x-label", has_text="An agent").first.wait_for()
    assert page.evaluate(OVERLAPS) == []
    screenshot("analytics-by-agent")
    # A new date regroups without a Show click too (the button stays for pages without JS).
    since = (timezone.localdate() - timedelta(days=2)).isoformat()
    page.locator("#a-since").fill(since)
    page.wait_for_url(f"**since={since}**")
    page.get_by_text(
        f"Calls requested from {timezone.localdate() - timedelta(days=2):%-d %b %Y}"
    ).wait_for()


def test_it_opens_the_call_log_from_an_overview_outcome_bar(page, role_users, screenshot):
    analytics_calls()
    refresh_summary()
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.locator("#chart-hours svg").wait_for()
    assert page.evaluate(OVERLAPS) == []
    screenshot("overview-charts")
    # A bar of an outcome (the bar of calls without one yet opens all of today's calls).
    page.locator("#chart-outcomes a.bar-link[href*='outcome=']").first.click()
    page.wait_for_url("**/calls/?outcome=**")
    assert page.locator("table tbody tr").count() >= 1
