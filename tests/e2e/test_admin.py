"""An admin in a real browser: a vendor connection that fails then works, an API token used with
`requests`, both in the audit log; the API docs page works under the strict CSP."""

from __future__ import annotations

import pytest
import requests

from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GOOD_KEY = "revrag-e2e-good-key-7788"


@pytest.fixture
def vendor_sandbox():
    sandbox = start(port=0, speed=20, keys={"revrag": GOOD_KEY})
    yield sandbox
    sandbox.stop()


def test_it_connects_a_vendor_and_uses_an_api_token(
    page, live_server, role_users, vendor_sandbox, screenshot
):
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, role_users["admin"].username, PASSWORD)
    page.wait_for_url("**/")

    # Add the connection with a wrong key.
    page.goto("/settings/")
    page.get_by_role("link", name="Vendor connections").first.click()
    page.get_by_role("link", name="Add a connection").first.click()
    page.locator("select[name=kind]").select_option("revrag")
    page.get_by_label("Name").fill("Revrag sandbox")
    page.locator("select[name=base_url_choice]").select_option("custom")
    page.get_by_label("Custom base URL").fill(vendor_sandbox.base_urls["revrag"])
    page.get_by_label("API key").fill("wrong-key-0000")
    page.get_by_role("button", name="Add connection").click()
    page.wait_for_url("**/settings/vendors/*/")
    assert page.locator("[data-key-mask]").inner_text().endswith("0000")

    # The test shows the vendor's own error, swapped in by htmx.
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#check-result")
    result.get_by_text("Invalid API key").wait_for()
    screenshot("admin-vendor-bad-key")

    # Rotating to the right key tests it first, then keeps it.
    page.get_by_label("New API key").fill(GOOD_KEY)
    page.get_by_role("button", name="Test and rotate").click()
    page.get_by_text("Key rotated").wait_for()
    assert page.locator("[data-key-mask]").inner_text().endswith("7788")
    page.get_by_role("button", name="Test connection").click()
    page.locator("#check-result").get_by_text("Connected.").wait_for()
    webhook_url = page.locator("#webhook-url").inner_text()
    assert "/webhooks/revrag/" in webhook_url
    screenshot("admin-vendor-ok")

    # An API token, shown once, used from outside the browser.
    page.goto("/settings/tokens/new/")
    page.get_by_label("Name").fill("e2e integration")
    page.locator("select[name=role]").select_option("admin")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    assert token.startswith("cop_")
    screenshot("admin-token-created")

    headers = {"Authorization": f"Bearer {token}"}
    me = requests.get(f"{live_server.url}/api/v1/me", headers=headers, timeout=10)
    assert me.status_code == 200
    assert me.json()["kind"] == "token"
    assert me.json()["role"] == "admin"
    events = requests.get(f"{live_server.url}/api/v1/audit-events/", headers=headers, timeout=10)
    assert events.status_code == 200
    actions = [event["action"] for event in events.json()["results"]]
    assert {"vendor_key_created", "vendor_key_rotated", "token_created"} <= set(actions)
    assert requests.get(f"{live_server.url}/api/v1/me", timeout=10).status_code == 401

    # Both actions in the audit log page.
    page.goto("/settings/audit/")
    table = page.locator("#audit-events")
    table.get_by_text("Vendor key rotated").wait_for()
    assert table.get_by_text("API token created").count() == 1
    page.locator("select[name=action]").select_option("token_created")
    page.wait_for_url("**/settings/audit/?*action=token_created*")
    page.locator("#audit-events").get_by_text("Vendor key rotated").wait_for(state="detached")
    screenshot("admin-audit-log")
    assert csp_errors == []


def test_it_shows_the_api_docs_under_the_strict_csp(page, role_users, screenshot):
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info .title").get_by_text("callops API").wait_for()
    page.get_by_text("/api/v1/me").first.wait_for()
    screenshot("api-docs")
    assert csp_errors == []
