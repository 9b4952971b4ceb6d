"""A manager in a real browser: reviews calls by keyboard, reads analytics, downloads a CSV."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.summary_refresh import refresh_summary
from calls.models import Call, CallOutcome, CallReview, CallState
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import AgentFactory, CallFactory, VendorAccountFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOSTILE = '<img src=x onerror="window.__pwned = 1">'


def ended_calls(count: int) -> list[Call]:
    """Ended calls newest first, one a minute apart, with summaries and transcripts."""
    account = VendorAccountFactory(name="Acme voice", price_per_minute=Decimal("0.0900"))
    agents = [AgentFactory(vendor_account=account, name=name) for name in ("Alice", HOSTILE)]
    calls = []
    for index in range(count):
        call = CallFactory(
            vendor_account=account,
            agent=agents[index % 2],
            state=CallState.ENDED,
            outcome=CallOutcome.COMPLETED if index % 3 else CallOutcome.NOT_PICKED,
            vendor_outcome="AGENT_HANGUP" if index % 3 else "CALL_NOT_PICKED",
            duration_seconds=30 + 10 * index,
            summary=f"Summary of call number {index}",
            transcript=[
                {"speaker": "agent", "text": f"Hello, call {index}", "start": 0.0, "end": 2.0},
                {"speaker": "customer", "text": "Hi there", "start": 2.0, "end": 3.5},
            ],
        )
        Call.objects.filter(pk=call.pk).update(
            created_at=timezone.now() - timedelta(minutes=index + 1)
        )
        calls.append(call)
    return calls


def current_call(page) -> int:
    return int(page.locator("#review-call").get_attribute("data-call"))


def test_a_manager_reviews_with_the_keyboard_and_reads_analytics(
    page, role_users, screenshot, tmp_path
):
    calls = ended_calls(5)
    manager = role_users["manager"]
    sign_in(page, manager.username, PASSWORD)
    page.wait_for_url("**/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    page.wait_for_url("**/review/")
    assert page.get_by_text("mark reviewed").is_visible()
    assert current_call(page) == calls[0].pk

    # j moves to the next call, k back.
    page.keyboard.press("j")
    page.wait_for_url(f"**call={calls[1].pk}")
    assert current_call(page) == calls[1].pk
    page.keyboard.press("k")
    page.wait_for_url(f"**call={calls[0].pk}")

    # Rate with 4, r marks reviewed and moves on; then two more with r alone.
    page.keyboard.press("4")
    assert page.locator('input[name="rating"][value="4"]').is_checked()
    screenshot("review")
    page.keyboard.press("r")
    page.wait_for_url(f"**call={calls[1].pk}")
    assert page.get_by_text(f"Call {calls[0].pk} reviewed.").is_visible()
    page.keyboard.press("r")
    page.wait_for_url(f"**call={calls[2].pk}")
    page.keyboard.press("r")
    page.wait_for_url(f"**call={calls[3].pk}")

    reviews = CallReview.objects.filter(is_reviewed=True).order_by("call__created_at")
    assert sorted(review.call_id for review in reviews) == sorted(c.pk for c in calls[:3])
    assert all(review.reviewer_id == manager.pk for review in reviews)
    assert CallReview.objects.get(call=calls[0]).rating == 4

    # Typing in the note does not trigger shortcuts.
    page.locator("#review-note").fill("")
    page.locator("#review-note").type("jerk")
    assert current_call(page) == calls[3].pk

    # Analytics: default by day, then by agent (htmx swap), then the CSV. The beat job has
    # summarised the calls (the page would read the calls table otherwise, and say so).
    refresh_summary()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    page.wait_for_url("**/analytics/")
    assert page.locator("#chart-calls svg").is_visible()
    assert page.get_by_text("The analytics summary is being built").count() == 0
    assert page.locator("#chart-cost svg").is_visible()
    page.get_by_label("Agent", exact=True).check()
    page.wait_for_url("**group=agent**")
    page.locator("#chart-calls text.x-label", has_text="Alice").first.wait_for()
    # The hostile agent name is text in the SVG, never markup.
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator("#report img").count() == 0
    page.locator("#chart-calls details summary").click()
    assert page.locator("#chart-calls table").is_visible()
    screenshot("analytics")

    with page.expect_download() as download_info:
        page.locator("#chart-calls a", has_text="CSV").click()
    path = tmp_path / "calls.csv"
    download_info.value.save_as(path)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0][:2] == ["Agent", "Calls placed"]
    assert sorted((row[0], row[1]) for row in rows[1:]) == sorted([("Alice", "3"), (HOSTILE, "2")])
