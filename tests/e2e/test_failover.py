"""An operator builds a two-arm campaign (Revrag backed up by the voice platform) with the form,
launches it against the sandbox, watches the comparison fill, sees Revrag go down and its dials
spill to the voice platform on the campaign page, stops it, and nothing is dialled afterwards."""

from __future__ import annotations

import contextlib
import re
import time

import pytest
import requests
from celery.exceptions import Retry

from calls.models import LIVE_STATES, Agent, Call
from calls.services import agents_sync, call_sync
from campaigns.dispatch import dispatch_due, record_outcomes
from campaigns.models import Campaign, CampaignStatus
from contacts.models import Contact
from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.e2e.test_campaign_form import settle
from vendors.models import VendorAccount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RAISED_LIMIT = 600  # the test is about the spill, not the vendors' documented limits
AUDIENCE = 12


@pytest.fixture
def vendors(live_server):
    sandbox = start(port=0, speed=50, seed=18)
    admin = sandbox.admin_url
    limits = [("revrag", "default"), ("voice_platform", "default")]
    limits.append(("voice_platform", "POST /v1/calls"))
    for vendor, group in limits:
        requests.post(
            f"{admin}/rate_limits",
            json={"vendor": vendor, "group": group, "limit": RAISED_LIMIT, "window_seconds": 60},
            timeout=10,
        ).raise_for_status()
    accounts = {}
    for kind, name in (("revrag", "Revrag (sandbox)"), ("voice_platform", "Voice (sandbox)")):
        account = VendorAccount(name=name, kind=kind, base_url=sandbox.base_urls[kind])
        account.set_api_key(sandbox.api_keys[kind])
        account.rate_limits = {"default": RAISED_LIMIT, "POST /v1/calls": RAISED_LIMIT}
        account.save()
        agents_sync(account=account)
        accounts[kind] = account
    yield accounts, sandbox
    sandbox.stop()


def sandbox_calls(sandbox, vendor: str) -> list[dict]:
    """The sandbox's requests that asked `vendor` to place a call, with when they came."""
    path = {"revrag": "/trigger/single", "voice_platform": "/v1/calls"}[vendor]
    log = requests.get(
        f"{sandbox.admin_url}/log", params={"vendor": vendor, "method": "POST"}, timeout=10
    ).json()["items"]
    return [e for e in log if e["path"].endswith(path) and 200 <= e["status"] < 300]


def run_campaign(campaign: Campaign, until, *, timeout: float = 30.0) -> None:
    """What the workers' beat does: dispatch the campaign, poll its calls, record outcomes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Eager Celery runs a call's dispatch task as the dispatcher commits; a task that asks
        # to be retried later (the vendor answered 503) raises Retry here instead of queueing.
        with contextlib.suppress(Retry):
            dispatch_due(campaign.pk)
        for call_id in Call.objects.filter(campaign=campaign, state__in=LIVE_STATES).values_list(
            "pk", flat=True
        ):
            call_sync(call_id=call_id)
        record_outcomes(campaign_id=campaign.pk)
        if until():
            return
        time.sleep(0.2)
    raise AssertionError("the campaign did not get there in time")


def test_it_spills_a_down_arm_to_its_backup_and_shows_it(page, role_users, vendors, screenshot):
    accounts, sandbox = vendors
    revrag, voice = accounts["revrag"], accounts["voice_platform"]
    revrag_agent = Agent.objects.filter(vendor_account=revrag, is_active=True).first()
    voice_agent = Agent.objects.filter(vendor_account=voice, is_active=True).first()
    for index in range(AUDIENCE):
        Contact.objects.create(
            name=f"Failover {index}", phone_e164=f"+1415555{3100 + index}", time_zone="UTC"
        )
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")

    # The form: arm A is the campaign's own Revrag agent, arm B the voice platform's, each the
    # other's backup, all chosen with selects.
    page.get_by_role("link", name="Campaigns", exact=True).first.click()
    page.get_by_role("link", name="New campaign").first.click()
    page.get_by_label("Name").fill("Failover drill")
    page.get_by_label("Vendor account").select_option(label=revrag.name)
    page.locator("#id_agent option", has_text=revrag_agent.name).wait_for(state="attached")
    page.locator("#id_agent").select_option(label=revrag_agent.name)
    page.get_by_label("Arm B: caller").select_option(label=f"{voice.name} · {voice_agent.name}")
    page.get_by_label("Arm A: backup arm").select_option(label="Arm B")
    page.get_by_label("Arm B: backup arm").select_option(label="Arm A")
    page.get_by_label("Search text").fill("Failover")
    page.locator("#audience-preview", has_text=f"{AUDIENCE} contacts").wait_for()
    for day in page.locator("input[name=window_days]").all():
        day.check()
    page.get_by_label("From hour (local)").fill("0")
    page.get_by_label("Until hour (local)").fill("24")
    page.get_by_label("Calls per minute").fill("60")
    page.get_by_label("At most at once").fill("20")
    screenshot("failover-form")
    settle(page)
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.get(name="Failover drill")
    first, second = campaign.arms.order_by("position")
    assert (first.vendor_account_id, first.backup_arm_id) == (revrag.pk, second.pk)
    assert (second.vendor_account_id, second.backup_arm_id) == (voice.pk, first.pk)

    page.get_by_role("button", name="Launch").click()
    page.get_by_text("Running").first.wait_for()

    # Both arms dial through their own vendors; the comparison, left open, fills in by itself.
    page.get_by_role("link", name="Compare arms").click()
    page.get_by_text("No call yet: the figures fill in as the arms dial.").wait_for()

    def both_arms_dialled() -> bool:
        return (
            len(sandbox_calls(sandbox, "revrag")) >= 1
            and len(sandbox_calls(sandbox, "voice_platform")) >= 1
        )

    run_campaign(campaign, both_arms_dialled)
    for arm in ("Arm A", "Arm B"):
        page.locator(f"#arm-comparison tr[data-arm='{arm}'] [data-dialled]").filter(
            has_not_text=re.compile(r"^0$")
        ).wait_for(timeout=15_000)
    screenshot("failover-arms-filling")

    # Revrag goes down: every request gets a 503. The next Revrag dial meets it, the breaker
    # opens, and arm A's dials go through arm B.
    requests.post(
        f"{sandbox.admin_url}/faults",
        json={"vendor": "revrag", "error_rate": 1.0, "error_status": 503},
        timeout=10,
    ).raise_for_status()
    revrag_before = len(sandbox_calls(sandbox, "revrag"))

    def spilled() -> bool:
        spills = Call.objects.filter(campaign=campaign, metadata__has_key="spilled_from_arm_id")
        return spills.exclude(vendor_call_id="").count() >= 2

    run_campaign(campaign, spilled)
    page.get_by_role("link", name="Back to the campaign").click()
    down = page.locator("[data-arm-down]")
    down.wait_for()
    assert f"Arm A's vendor ({revrag.name}) is not answering" in down.inner_text()
    assert "Its dials go to Arm B meanwhile." in down.inner_text()
    spills = page.locator("[data-spills]").inner_text()
    count = int(re.search(r"Arm A → Arm B: (\d+) call", spills).group(1))
    assert count >= 2
    screenshot("failover-campaign-spilling")
    assert len(sandbox_calls(sandbox, "revrag")) == revrag_before  # nothing got through

    # Stop: the confirmation, then nothing more reaches either vendor.
    page.get_by_role("link", name="Stop…").click()
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("no call starts any more").wait_for()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.STOPPED
    at_stop = {v: len(sandbox_calls(sandbox, v)) for v in ("revrag", "voice_platform")}
    # Revrag answers again: still nothing may start for a stopped campaign.
    requests.post(
        f"{sandbox.admin_url}/faults", json={"vendor": "revrag", "error_rate": 0}, timeout=10
    ).raise_for_status()
    for _round in range(10):
        with contextlib.suppress(Retry):
            dispatch_due(campaign.pk)
        time.sleep(0.2)
    assert {v: len(sandbox_calls(sandbox, v)) for v in at_stop} == at_stop
    screenshot("failover-campaign-stopped")
