"""An operator places a call in the browser against the sandbox and watches it to its end."""

from __future__ import annotations

import re

import pytest
import requests

from calls.models import Call, CallState
from calls.services import agents_sync
from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import ContactFactory
from vendors.models import VendorAccount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WEBHOOK_SECRET = "e2e-revrag-webhook-secret"


@pytest.fixture
def revrag_sandbox(live_server):
    sandbox = start(port=0, speed=50, seed=5)
    account = VendorAccount(
        name="Revrag (sandbox)", kind="revrag", base_url=sandbox.base_urls["revrag"]
    )
    account.set_api_key(sandbox.api_keys["revrag"])
    account.set_webhook_secret(WEBHOOK_SECRET)
    account.save()
    # What Revrag's support would configure: its webhooks go to this callops.
    hook = f"{live_server.url}/webhooks/revrag/{account.webhook_token}/"
    requests.post(
        f"{sandbox.admin_url}/config",
        json={"vendor": "revrag", "webhook_url": hook, "webhook_secret": WEBHOOK_SECRET},
        timeout=10,
    ).raise_for_status()
    agents_sync(account=account)
    yield account
    sandbox.stop()


def test_it_places_a_call_and_follows_it_to_the_recording(
    page, role_users, revrag_sandbox, screenshot
):
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto("/calls/new/")
    page.get_by_label("Vendor account").select_option(label=revrag_sandbox.name)
    agent = page.get_by_label("Agent")
    page.wait_for_function("() => !document.getElementById('nc-agent').disabled")
    agent.select_option(index=1)
    # Choosing the agent reloads the variable rows with its declared variables: wait for them.
    page.wait_for_load_state("networkidle")
    page.get_by_label("…or a phone number").fill("+14155550188")
    page.locator("#var-key-1").fill("name")
    page.locator("#var-value-1").fill("Ada")
    page.get_by_role("button", name="Place the call").click()

    page.wait_for_url(re.compile(r"/calls/\d+/$"))  # not /calls/new/, which matches **/calls/*/
    call = Call.objects.get(to_number="+14155550188")
    assert call.variables == {"name": "Ada"}
    # The status updates by itself: the vendor's webhook ends the call, the page reloads.
    page.locator("#call-audio").wait_for(timeout=40_000)
    call.refresh_from_db()
    assert call.state == CallState.ENDED
    assert page.get_by_text(call.get_common_outcome_display()).first.is_visible()

    page.wait_for_function("() => document.getElementById('call-audio').readyState >= 1")
    duration = page.evaluate("() => document.getElementById('call-audio').duration")
    turns = call.transcript
    later = [i for i, turn in enumerate(turns) if (turn["start"] or 0) > duration / 2]
    if later:
        start = turns[later[0]]["start"]
        page.locator(".transcript .turn").nth(later[0]).locator(".turn-time").click()
        page.wait_for_function(
            "(start) => document.getElementById('call-audio').currentTime >= start - 0.05",
            arg=start,
        )
        assert page.locator(".transcript .turn.is-current").count() == 1
    screenshot("call-page")


def test_it_calls_a_contact_from_its_row_with_the_variables_filled(
    page, role_users, revrag_sandbox, screenshot
):
    contact = ContactFactory(name="Ada Lovelace", phone_e164="+14155550177")
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto("/contacts/")
    page.get_by_role("link", name="Call Ada Lovelace").click()

    dialog = page.locator("dialog.modal")
    dialog.wait_for()
    # The server sends the dialog open, so it is visible before htmx settles and calls.js turns
    # it into a real modal: wait for that step instead of racing it.
    page.wait_for_function("() => document.querySelector('dialog.modal')?.matches(':modal')")
    assert dialog.locator("#nc-contact").input_value() == str(contact.pk)
    dialog.get_by_label("Vendor account").select_option(label=revrag_sandbox.name)
    # The form reloads for the account's first agent: its declared variables, from the contact.
    page.wait_for_function(
        "() => [...document.querySelectorAll('input[name=var_value]')]"
        ".some((input) => input.value === 'Ada Lovelace')"
    )
    assert dialog.locator("#nc-contact").input_value() == str(contact.pk)
    rows = dialog.locator('.kv-rows[data-kv="var"] .kv-row').count()
    dialog.locator('[data-add-row="var"]').click()
    assert dialog.locator('.kv-rows[data-kv="var"] .kv-row').count() == rows + 1
    assert page.url.endswith("/contacts/")  # "Add a row" stayed in the modal
    assert not dialog.get_by_role("button", name="Find").is_visible()  # no-JS only

    # A number typed as well: read in the default region, then refused beside both fields.
    dialog.get_by_label("…or a phone number").fill("415 555 0101")
    dialog.get_by_text("Read as a US number: +1 415 555 0101").wait_for()
    dialog.get_by_role("button", name="Place the call").click()
    dialog.get_by_text("not both").wait_for()
    assert dialog.locator("#nc-contact").input_value() == str(contact.pk)
    assert not Call.objects.exists()
    screenshot("new-call-from-contact")

    dialog.get_by_label("…or a phone number").fill("")
    dialog.get_by_role("button", name="Place the call").click()
    page.wait_for_url(re.compile(r"/calls/\d+/$"))
    call = Call.objects.get(to_number=contact.phone_e164)
    assert call.contact == contact
    assert call.variables.get("customer_name") == "Ada Lovelace"
