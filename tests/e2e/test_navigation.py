from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NAVIGATION = {
    "operator": ["Overview", "Calls", "Campaigns", "Contacts", "Agents", "Post-call"],
    "manager": [
        "Overview",
        "Calls",
        "Review",
        "Campaigns",
        "Contacts",
        "Agents",
        "Analytics",
        "Alerts",
    ],
    "admin": [
        "Overview",
        "Calls",
        "Review",
        "Campaigns",
        "Contacts",
        "Agents",
        "Post-call",
        "Analytics",
        "Alerts",
        "Settings",
    ],
}


@pytest.mark.parametrize("role", NAVIGATION)
def test_it_shows_each_role_its_own_navigation(page, role_users, role, screenshot):
    sign_in(page, role_users[role].username, PASSWORD)
    page.wait_for_url("**/")
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    assert links.all_inner_texts() == NAVIGATION[role]
    assert page.get_by_role("heading", name="Overview").is_visible()
    screenshot(f"overview-{role}")


def test_it_signs_out(page, role_users):
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    assert page.get_by_text("You are signed out.").is_visible()
