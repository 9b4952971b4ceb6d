"""The outcome help page in a real browser: reached from the call log, every row readable, and
its outcome links open the call log filtered by that outcome."""

from __future__ import annotations

import pytest

from calls.models import CallState, CommonOutcome
from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS, sign_in
from tests.factories import CallFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Table cells wider than the page (a row that runs off the right edge) or overlapping.
OVERFLOW = """() => [...document.querySelectorAll('.outcome-table td, .outcome-table th')]
  .filter((cell) => cell.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .map((cell) => cell.textContent.trim().slice(0, 40))"""


def test_it_explains_the_outcomes_and_links_each_to_its_calls(page, role_users, screenshot):
    CallFactory(
        to_number="+14155550177",
        state=CallState.ENDED,
        common_outcome=CommonOutcome.VOICEMAIL,
        vendor_outcome="VOICEMAIL_REACHED",
    )
    CallFactory(
        to_number="+14155550178",
        state=CallState.ENDED,
        common_outcome=CommonOutcome.NO_ANSWER,
        vendor_outcome="CALL_NOT_PICKED",
    )
    sign_in(page, role_users["manager"].username, PASSWORD)
    page.goto("/calls/")
    page.get_by_role("link", name="(what they mean)").click()
    page.get_by_role("heading", name="What the outcomes mean").wait_for()
    rows = page.locator(".outcome-table tbody tr")
    assert rows.count() == len(CommonOutcome)
    assert page.evaluate(OVERFLOW) == []
    screenshot("outcomes-help")
    page.set_viewport_size({"width": 1280, "height": 1180})
    page.screenshot(path=str(ARTIFACTS / "outcomes-help-table.png"))  # the README's

    page.get_by_role("link", name="Voicemail / machine", exact=True).click()
    page.wait_for_url("**/calls/?outcome=voicemail")
    table = page.locator("#call-rows")
    assert "+14155550177" in table.inner_text()
    assert "+14155550178" not in table.inner_text()
    assert page.locator("#f-outcome").input_value() == "voicemail"
