"""An admin in a real browser: a vendor that answers 503 opens its circuit breaker; the
connection page and the overview say so; the admin closes it by hand after a confirmation."""

from __future__ import annotations

import pytest
import requests

from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from vendors.models import VendorAccount, VendorKind

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

KEY = "revrag-e2e-breaker-key-4411"


@pytest.fixture
def vendor_sandbox():
    sandbox = start(port=0, speed=20, keys={"revrag": KEY})
    yield sandbox
    sandbox.stop()


def test_it_shows_an_open_breaker_and_closes_it_by_hand(
    page, live_server, role_users, vendor_sandbox, screenshot
):
    account = VendorAccount(
        kind=VendorKind.REVRAG, name="Revrag sandbox", base_url=vendor_sandbox.base_urls["revrag"]
    )
    account.set_api_key(KEY)
    account.save()
    requests.post(
        f"{vendor_sandbox.admin_url}/faults",
        json={"vendor": "revrag", "fail_next": [503]},
        timeout=5,
    ).raise_for_status()

    sign_in(page, role_users["admin"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/settings/vendors/{account.pk}/")
    panel = page.locator("#failover")
    assert panel.locator("[data-breaker-state]").get_attribute("data-breaker-state") == "closed"

    # The connection test meets the 503: the breaker opens and the page says why.
    page.get_by_role("button", name="Test connection").click()
    page.locator("#check-result .badge-bad").wait_for()
    page.reload()
    assert panel.locator("[data-breaker-state]").get_attribute("data-breaker-state") == "open"
    assert "The vendor answered 503" in panel.locator("[data-breaker-history]").inner_text()
    screenshot("admin-vendor-breaker-open")

    page.goto("/")
    attention = page.get_by_label("Needs attention")
    attention.locator("[data-open-breaker]").get_by_text("Revrag sandbox").wait_for()
    screenshot("admin-overview-breaker-open")

    attention.locator("[data-open-breaker] a").click()
    page.get_by_role("link", name="Close it now…").click()
    page.get_by_role("button", name="Close the breaker").click()
    page.get_by_text("The circuit breaker of Revrag sandbox is closed.").wait_for()
    assert panel.locator("[data-breaker-state]").get_attribute("data-breaker-state") == "closed"
    screenshot("admin-vendor-breaker-closed")
