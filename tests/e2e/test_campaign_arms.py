"""An operator builds a two-arm campaign (Revrag and the voice platform) in the form, launches
it against the sandbox and watches the arm comparison fill."""

from __future__ import annotations

import re
import time

import pytest
import requests

from calls.models import LIVE_STATES, Call
from calls.services import agents_sync, call_sync
from campaigns.dispatch import dispatch_due, record_outcomes
from campaigns.models import Campaign
from contacts.models import Contact
from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.e2e.test_campaign_form import settle
from vendors.models import VendorAccount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_vendors(live_server):
    sandbox = start(port=0, speed=50, seed=11)
    accounts = []
    for kind, name, group in (
        ("revrag", "Revrag (sandbox)", "default"),
        ("voice_platform", "Voice platform (sandbox)", "POST /v1/calls"),
    ):
        account = VendorAccount(name=name, kind=kind, base_url=sandbox.base_urls[kind])
        account.set_api_key(sandbox.api_keys[kind])
        account.rate_limits = {group: 600}
        account.save()
        requests.post(
            f"{sandbox.admin_url}/rate_limits",
            json={"vendor": kind, "group": group, "limit": 600, "window_seconds": 60},
            timeout=10,
        ).raise_for_status()
        agents_sync(account=account)
        accounts.append(account)
    for kind in ("revrag", "voice_platform"):
        requests.post(
            f"{sandbox.admin_url}/script",
            json={
                "vendor": kind,
                "outcomes": [{"reason": "completed", "duration": 30, "ring_seconds": 1}] * 6
                + [{"reason": "voicemail", "duration": 10, "ring_seconds": 1}] * 6,
            },
            timeout=10,
        ).raise_for_status()
    yield accounts, sandbox
    sandbox.stop()


def run_campaign(campaign: Campaign, *, rounds: int) -> None:
    """What the beat and the sync jobs do in production: dial, poll live calls, record."""
    for _round in range(rounds):
        dispatch_due(campaign.pk)
        for call_id in Call.objects.filter(campaign=campaign, state__in=LIVE_STATES).values_list(
            "pk", flat=True
        ):
            call_sync(call_id=call_id)
        record_outcomes(campaign_id=campaign.pk)
        time.sleep(0.3)


def test_it_builds_a_two_arm_campaign_launches_it_and_fills_the_comparison(
    page, role_users, two_vendors, screenshot
):
    (revrag, voice), _sandbox = two_vendors
    for index in range(12):
        Contact.objects.create(
            name=f"Arms {index}",
            phone_e164=f"+1415555{3100 + index}",
            time_zone=["America/New_York", "Europe/Paris"][index % 2],
        )
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")

    page.goto("/campaigns/new")
    page.get_by_label("Name").fill("E2E arms")
    page.get_by_label("Vendor account").select_option(label=revrag.name)
    page.locator("#id_agent option").nth(1).wait_for(state="attached")
    page.locator("#id_agent").select_option(index=1)
    page.get_by_label("Arm B: caller").select_option(index=1 + _voice_option(page, voice.name))
    page.get_by_label("Arm B: backup arm").select_option("A")
    page.get_by_label("Search text").fill("Arms")
    for day in page.locator("input[name=window_days]").all():
        day.check()
    page.get_by_label("From hour (local)").fill("0")
    page.get_by_label("Until hour (local)").fill("24")
    page.get_by_label("Calls per minute").fill("240")
    page.get_by_label("At most at once").fill("6")
    screenshot("campaign-arms-form")
    settle(page)
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.get(name="E2E arms")
    assert campaign.arms.count() == 2
    assert "Compare arms" in page.content()

    page.get_by_role("button", name="Launch").click()
    page.get_by_text("Running").first.wait_for()
    screenshot("campaign-arms-detail")
    page.get_by_role("link", name="Compare arms").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/arms$"))
    run_campaign(campaign, rounds=25)

    # The page refreshes itself while the campaign runs: both arms' rows fill.
    page.wait_for_function(
        "() => [...document.querySelectorAll('tr[data-arm] td[data-rate=completion]')]"
        ".filter(cell => cell.textContent.includes('%')).length == 2",
        timeout=20_000,
    )
    rows = page.locator("tr[data-arm]").all_inner_texts()
    assert rows[0].startswith("Arm A") and "Revrag (sandbox)" in rows[0]
    assert rows[1].startswith("Arm B") and "Voice platform (sandbox)" in rows[1]
    assert "seed" in page.content()
    assert Call.objects.filter(campaign=campaign, vendor_account=revrag).exists()
    assert Call.objects.filter(campaign=campaign, vendor_account=voice).exists()
    screenshot("campaign-arms-operator")

    page.context.clear_cookies()
    sign_in(page, role_users["manager"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/campaigns/{campaign.pk}/arms")
    assert "Set weight" not in page.content()
    screenshot("campaign-arms-manager")


def _voice_option(page, account_name: str) -> int:
    """The index (after "No arm") of the first agent of the account in the arm select."""
    labels = page.locator("#id_arm_B_agent option").all_inner_texts()[1:]
    return next(index for index, label in enumerate(labels) if label.startswith(account_name))
