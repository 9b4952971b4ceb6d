"""An operator imports contacts, builds a paced campaign, launches it, watches it, stops it."""

from __future__ import annotations

import re
import time

import pytest
import requests
from django.utils import timezone

from calls.models import Call
from calls.services import agents_sync
from campaigns.dispatch import dispatch_due
from campaigns.models import Campaign, CampaignStatus
from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from vendors.models import VendorAccount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSV = (
    "name,phone,email\n"
    "E2E Ada,+1 415 555 2601,ada@example.com\n"
    "E2E Grace,(212) 555-2602,grace@example.com\n"
    "E2E Alan,+442079462603,alan@example.com\n"
    "E2E Katherine,757-555-2604,katherine@example.com\n"
    "E2E Nobody,12345,nobody@example.com\n"
    "E2E Hedy,not a number,hedy@example.com\n"
    "E2E Srinivasa,+1 808 555 2605,srinivasa@example.com\n"
    "E2E Emmy,+1 503 555 2606,emmy@example.com\n"
)


@pytest.fixture
def revrag(live_server):
    sandbox = start(port=0, speed=50, seed=9)
    account = VendorAccount(
        name="Revrag (sandbox)", kind="revrag", base_url=sandbox.base_urls["revrag"]
    )
    account.set_api_key(sandbox.api_keys["revrag"])
    # The test measures the campaign's pace, not Revrag's default 60 requests a minute.
    account.rate_limits = {"default": 600}
    account.save()
    requests.post(
        f"{sandbox.admin_url}/rate_limits",
        json={"vendor": "revrag", "limit": 600, "window_seconds": 60},
        timeout=10,
    ).raise_for_status()
    agents_sync(account=account)
    yield account, sandbox
    sandbox.stop()


def test_it_imports_builds_launches_watches_and_stops_a_campaign(
    page, role_users, revrag, screenshot
):
    account, sandbox = revrag
    page.on("dialog", lambda dialog: dialog.accept())  # htmx's hx-confirm
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")

    # 1. Import: two bad rows are reported with their line numbers, the rest land.
    page.goto("/contacts/import/")
    page.set_input_files(
        "input[type=file]",
        files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("button", name="Import").click()
    page.get_by_role("link", name="Download the rejected rows (CSV)").wait_for(timeout=20_000)
    page.reload()  # the finished import's page lists the rejected rows
    rows = page.locator("table tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in rows[-2:]] == ["6", "7"]
    screenshot("contact-import")

    # 2. A paced campaign over the imported contacts.
    page.goto("/campaigns/new")
    page.get_by_label("Name").fill("E2E renewals")
    page.get_by_label("Vendor account").select_option(label=account.name)
    page.locator("#id_agent option").nth(1).wait_for(state="attached")  # htmx: its agents
    page.get_by_label("Agent").select_option(index=1)
    page.get_by_label("Search text").fill("E2E")
    for day in page.locator("input[name=window_days]").all():
        day.check()
    page.get_by_label("From hour (local)").fill("0")
    page.get_by_label("Until hour (local)").fill("24")
    page.get_by_label("Calls per minute").fill("120")
    page.get_by_label("At most at once").fill("2")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.get(name="E2E renewals")
    assert "will be dialled" in page.content()

    # 3. Launch, and let the dispatcher (beat, in production) run a few rounds.
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("Running").first.wait_for()
    for _round in range(6):
        dispatch_due(campaign.pk)
        time.sleep(0.5)
    page.wait_for_function(
        "() => !document.querySelector('#campaign-live').textContent.includes('0% settled')"
        " || document.querySelector('.counters').textContent.match(/Dialling\\s*[1-9]/)",
        timeout=15_000,
    )
    screenshot("campaign-running")

    # 4. Stop; afterwards the dispatcher starts nothing, and the sandbox saw nothing new.
    page.get_by_role("link", name="Stop…").click()
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped").first.wait_for()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    stopped_at = time.time()
    calls_at_stop = Call.objects.filter(campaign=campaign).count()
    for _round in range(3):
        dispatch_due(campaign.pk)
    assert Call.objects.filter(campaign=campaign).count() == calls_at_stop
    triggers = requests.get(
        f"{sandbox.admin_url}/log", params={"vendor": "revrag", "method": "POST"}, timeout=10
    ).json()["items"]
    assert triggers
    assert all(entry["t"] <= stopped_at for entry in triggers)
    assert campaign.stopped_at <= timezone.now()
