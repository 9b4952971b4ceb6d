"""Conversation metrics in a real browser: the call page's block and the call log's filters."""

from __future__ import annotations

import pytest

from calls.conversation_metrics import conversation_measure
from calls.models import CallOutcome, CallState
from tests.calls.test_conversation import line
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import CallFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A renewal call: the customer interrupts once, and waits 5 s for one answer.
RENEWAL = [
    line("agent", 0.8, 6.2, "Hi Dana, this is Ava from Northwind about your team plan renewal."),
    line("customer", 6.9, 8.1, "Oh yes, hello."),
    line("agent", 8.6, 19.4, "Your plan renews next month, and the annual price is lower now."),
    line("customer", 18.7, 23.0, "Sorry, how much lower? We are twenty people now."),
    line("agent", 28.0, 36.5, "Let me check. For twenty seats it is fifteen percent less a year."),
    line("customer", 37.2, 40.0, "That sounds good, please send it by email."),
    line("agent", 40.6, 44.0, "I will send it today. Thanks for your time."),
]


def test_it_shows_the_conversation_and_filters_the_call_log_by_it(page, role_users, screenshot):
    slow = CallFactory(
        state=CallState.ENDED,
        outcome=CallOutcome.COMPLETED,
        duration_seconds=45,
        transcript=RENEWAL,
        summary="Customer asked for the renewal price for twenty seats by email.",
    )
    quick = CallFactory(
        state=CallState.ENDED,
        outcome=CallOutcome.COMPLETED,
        transcript=[line("agent", 0.5, 3.0, "Hello"), line("customer", 3.2, 4.0, "Hi")],
    )
    conversation_measure(call_id=slow.pk)
    conversation_measure(call_id=quick.pk)
    sign_in(page, role_users["manager"].username, PASSWORD)
    page.wait_for_url("**/")

    page.goto(f"/calls/{slow.pk}/")
    block = page.get_by_role("region", name="Conversation")
    block.get_by_text("Talk ratio").wait_for()
    facts = block.locator("dl").inner_text()
    assert "Agent 77 % (28 s) · Customer 23 % (8.3 s)" in facts
    assert "Agent 0 · Customer 1; 0.7 s spoken over" in facts
    assert "1 (longest 5 s)" in facts
    assert "p50 0.6 s · p90 5 s (3 answers)" in facts
    block.scroll_into_view_if_needed()
    screenshot("call-conversation")

    page.goto("/calls/")
    rows = page.locator("#call-rows tr")
    assert rows.count() == 2
    page.get_by_label("Silences over 3 s").select_option("yes")
    page.wait_for_url("**silences=yes**")
    rows.first.wait_for()
    page.wait_for_function("document.querySelectorAll('#call-rows tr').length === 1")
    assert f"/calls/{slow.pk}/" in page.locator("#call-rows").inner_html()
    screenshot("call-log-conversation-filters")
    page.get_by_label("Response p90 over (s)").fill("6")
    page.get_by_label("Response p90 over (s)").press("Enter")
    page.get_by_text("No call matches").wait_for()
