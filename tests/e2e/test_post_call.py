"""An operator sets up a post-call rule, places a call, and sees analysis and follow-up arrive."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from django.db import connection

from calls.models import Call, PostCallStep, StepStatus
from calls.services import agents_sync
from calls.tasks import advance_post_call
from dashboard.services import vendor_webhooks_register
from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS, sign_in
from vendors.models import VendorAccount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def vendors(live_server, settings):
    # The vendors post their webhooks to this live server.
    settings.CALLOPS_PUBLIC_URL = live_server.url
    # Results are seconds away in the sandbox: poll them soon instead of after 20 s.
    settings.CALLOPS_POST_CALL_FIRST_POLL_SECONDS = 1
    sandbox = start(port=0, speed=50, seed=11)

    def account(kind: str, name: str) -> VendorAccount:
        made = VendorAccount(name=name, kind=kind, base_url=sandbox.base_urls[kind])
        made.set_api_key(sandbox.api_keys[kind])
        made.save()
        return made

    voice = account("voice_platform", "Voice (sandbox)")
    agents_sync(account=voice)
    vendor_webhooks_register(account=voice)
    account("callcov", "CallCov (sandbox)")
    account("revor", "Revor (sandbox)")
    for vendor, outcome in (
        ("voice_platform", {"reason": "completed", "duration": 25, "ring_seconds": 1}),
        ("revor", {"status": "succeeded"}),
    ):
        requests.post(
            f"{sandbox.admin_url}/script",
            json={"vendor": vendor, "outcomes": [outcome]},
            timeout=10,
        ).raise_for_status()
    yield voice
    sandbox.stop()


@pytest.fixture
def beat():
    """Celery beat's post-call job, run every half second in a thread as beat would run it."""
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(0.5):
                advance_post_call()
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def test_it_configures_a_rule_and_shows_analysis_and_follow_up_on_the_call(
    page, role_users, vendors, beat, screenshot
):
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.get_by_role("link", name="Post-call").click()
    page.get_by_role("link", name="New rule").first.click()

    page.get_by_label("Name").fill("Analyse and thank")
    page.get_by_label("Calls of the vendor account").select_option(label="Voice (sandbox)")
    page.get_by_label("Completed").check()
    page.get_by_label("Analyse the recording with").select_option(label="CallCov (sandbox)")
    page.get_by_label("Write the results back to the voice platform").check()
    page.get_by_label("Follow up through").select_option(label="Revor (sandbox)")
    # htmx loads the Revor account's senders into the "Send from" select.
    sender = page.get_by_label("Send from")
    page.wait_for_function("() => document.querySelectorAll('#sender-field option').length > 1")
    page.get_by_label("Channel").select_option(label="WhatsApp")
    sender.select_option(label="Support WhatsApp · whatsapp (+14155550123)")
    page.get_by_label("Message").fill("Thanks for your time. Summary: {{ call.summary }}")
    page.get_by_role("button", name="Save rule").click()
    page.wait_for_url("**/calls/rules/")
    assert page.get_by_role("link", name="Analyse and thank").is_visible()

    page.goto("/calls/new/")
    page.get_by_label("Vendor account").select_option(label="Voice (sandbox)")
    page.wait_for_function("() => !document.getElementById('nc-agent').disabled")
    page.get_by_label("Agent").select_option(index=0)
    page.get_by_label("…or a phone number").fill("+14155550199")
    page.get_by_role("button", name="Place the call").click()
    page.wait_for_url(re.compile(r"/calls/\d+/$"))
    call = Call.objects.get(to_number="+14155550199")

    # The call ends (webhook), the page reloads, then the post-call panel fills in by itself.
    analysis = page.locator("section.call-analysis")
    analysis.wait_for(timeout=60_000)
    assert analysis.get_by_text("Customer effort score").is_visible()
    follow_ups = page.locator("section.call-follow-ups")
    follow_ups.get_by_text("Done").wait_for(timeout=60_000)
    assert follow_ups.get_by_text("Follow-up by WhatsApp").is_visible()
    assert follow_ups.get_by_text("to +14155550199").is_visible()

    steps = list(PostCallStep.objects.filter(call=call).order_by("position"))
    assert [step.status for step in steps] == [StepStatus.DONE] * 3
    screenshot("post-call-page")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#after-call").screenshot(path=str(ARTIFACTS / "post-call.png"))
