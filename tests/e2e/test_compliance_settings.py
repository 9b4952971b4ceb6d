"""An admin edits the calling policy in a real browser: the counsel note is there, a changed
hour and a new state rule are saved, and the page works under the strict CSP."""

from __future__ import annotations

import pytest

from contacts.compliance import policy_restore_defaults
from contacts.models import CallingHoursRule
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_lets_an_admin_change_the_calling_hours(page, live_server, role_users, screenshot):
    policy_restore_defaults()
    console_errors: list[str] = []
    page.on(
        "console",
        lambda message: console_errors.append(message.text) if message.type == "error" else None,
    )
    sign_in(page, role_users["admin"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto("/settings/")
    page.get_by_role("link", name="Compliance").first.click()
    page.get_by_text("Have your counsel check these rules.").wait_for()
    screenshot("settings-compliance")

    florida = page.locator("tr", has=page.locator("input[value='US-FL']"))
    florida.locator("input[name$='-end_minute']").fill("19:00")
    empty = page.locator("tbody tr").last  # the form ends with empty rows for new rules
    empty.locator("input[name$='-place']").fill("US-NY")
    empty.locator("input[name$='-start_minute']").fill("9:00")
    empty.locator("input[name$='-end_minute']").fill("20:00")
    page.get_by_role("button", name="Save the policy").click()
    page.get_by_text("The calling policy is saved").wait_for()

    assert CallingHoursRule.objects.get(place="US-FL").end_minute == 19 * 60
    assert CallingHoursRule.objects.get(place="US-NY").start_minute == 9 * 60
    assert console_errors == []
