"""A user with only the screen (no ids, no JSON, no typed URLs) builds, launches and stops a
paced campaign: filtered audience, local-time schedule, retry rows, then reads the states."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from calls.models import Agent
from campaigns.dispatch import dispatch_due
from campaigns.models import Campaign, CampaignStatus, DialState
from contacts.models import Contact
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.e2e.test_campaigns import revrag  # noqa: F401 (the sandbox Revrag account fixture)
from tests.factories import ContactFactory, DoNotCallEntryFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ZONE = "America/New_York"


def local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def audience():
    """Five recent leads (one on the do-not-call list), an old lead and someone else."""
    leads = [
        ContactFactory(name=f"Lead {name}", phone_e164=f"+1415555280{n}", email=f"{name}@ex.com")
        for n, name in enumerate(["Ada", "Bea", "Cy", "Dee", "Eve"], start=1)
    ]
    DoNotCallEntryFactory(phone_e164=leads[-1].phone_e164)
    old = ContactFactory(name="Lead Old", phone_e164="+14155552809")
    Contact.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))
    ContactFactory(name="Someone else", phone_e164="+14155552810")
    return leads


def settle(page) -> None:
    """No htmx request in flight and none starting (an input's delayed trigger) for a moment,
    and no field focused: headless Chromium scrolled the page up as the number field typed in
    last lost its focus to the click, so the click landed on the form beside the button."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request')", polling=100, timeout=10_000
    )
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request')", polling=100, timeout=10_000
    )


def test_it_builds_a_paced_campaign_from_the_screen_launches_and_stops_it(
    page,
    role_users,
    revrag,  # noqa: F811
    audience,
    screenshot,
):
    account, _sandbox = revrag
    agent = Agent.objects.filter(vendor_account=account, is_active=True).order_by("name").first()
    page.on("dialog", lambda dialog: dialog.accept())  # htmx's hx-confirm
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")

    page.get_by_role("link", name="Campaigns", exact=True).first.click()
    page.get_by_role("link", name="New campaign").first.click()
    page.get_by_label("Name").fill("Spring leads")

    # Who calls: the agent list follows the account.
    page.get_by_label("Vendor account").select_option(label=account.name)
    page.locator("#id_agent option", has_text=agent.name).wait_for(state="attached")
    page.get_by_label("Agent").select_option(label=agent.name)

    # Whom: a filter with its live count and sample.
    page.get_by_label("Search text").fill("Lead")
    page.locator("#audience-preview", has_text="6 contacts").wait_for()
    added_from = (timezone.localdate() - timedelta(days=7)).isoformat()
    page.get_by_label("Added from").fill(added_from)
    page.locator("#audience-preview", has_text="5 contacts").wait_for()
    assert "Lead Old" not in page.locator("#audience-preview").inner_text()

    # Variables from contact fields, by picker.
    page.get_by_label("Variable 2", exact=True).fill("mail")
    page.get_by_label("Variable 2 filled from").select_option(label="Contact's email")

    # When: every day, all day; a schedule in New York time, the end first typed wrongly.
    for day in page.locator("input[name=window_days]").all():
        day.check()
    page.get_by_label("From hour (local)").fill("0")
    page.get_by_label("Until hour (local)").fill("24")
    page.get_by_label("Schedule time zone").select_option(ZONE)
    now = timezone.now()
    starts, ends = now - timedelta(minutes=10), now + timedelta(days=2)
    page.get_by_label("Starts").fill(local(starts))
    page.get_by_label("Ends").fill(local(now - timedelta(hours=1)))

    # How fast, and retries as rows: the defaults are there; one more for voicemail.
    page.get_by_label("Calls per minute").fill("1")
    page.get_by_label("At most at once").fill("1")
    assert page.get_by_label("Rule 1: when the call is").input_value() == "no_answer"
    page.get_by_label("Rule 2: when the call is").select_option(label="Voicemail / machine")
    page.get_by_label("Rule 2: retry after").fill("30")
    page.get_by_label("Rule 2: minutes or hours").select_option("minutes")
    page.get_by_label("Rule 2: attempts in all").fill("2")
    page.get_by_label("Rule 3: when the call is").select_option(label="Declined")
    screenshot("campaign-form")

    settle(page)
    page.get_by_role("button", name="Save draft").click()
    # Refused: the messages sit next to their fields and the first one has the focus.
    page.get_by_text("End after the start.").wait_for()
    page.get_by_text("Say how long to wait before retrying.").wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.id")
    assert page.evaluate("document.activeElement.id") == "id_ends_at"
    screenshot("campaign-form-errors")
    assert not Campaign.objects.exists()
    page.get_by_label("Ends").fill(local(ends))
    page.get_by_label("Rule 3: when the call is").select_option(label="—")
    settle(page)
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))

    campaign = Campaign.objects.get(name="Spring leads")
    assert campaign.starts_at == starts.replace(second=0, microsecond=0).astimezone(UTC)
    assert campaign.ends_at == ends.replace(second=0, microsecond=0).astimezone(UTC)
    assert campaign.retry_rules == {
        "no_answer": {"retry_after_minutes": 120, "max_attempts": 3},
        "voicemail": {"retry_after_minutes": 30, "max_attempts": 2},
    }
    assert campaign.variables_template == {
        "name": "{{ contact.name }}",
        "mail": "{{ contact.email }}",
    }
    preview = page.get_by_label("Preview").inner_text()
    assert "4 of 5" in preview
    dnc_row = page.get_by_role("row", name=re.compile("Do-not-call list"))
    assert dnc_row.get_by_role("cell").first.inner_text() == "1"
    assert f"({ZONE})" in page.content()

    page.get_by_role("button", name="Launch").click()
    # The status badge, not any "running" on the page (the draft's pace line says "when
    # running"): dispatching before the launch is committed would find a draft.
    page.locator("h1 .badge.campaign-running").wait_for()
    for _round in range(3):
        dispatch_due(campaign.pk)
    page.locator(".counters", has_text=re.compile(r"Pending\s*3")).wait_for(timeout=15_000)

    page.get_by_role("link", name="Stop…").click()
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("no call starts any more").wait_for()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    states = sorted(campaign.entries.values_list("state", flat=True))
    assert states.count(DialState.NOT_DIALLED) == 3
    assert states.count(DialState.SKIPPED_DNC) == 1
    rows = page.get_by_label("Dial entries").locator("tbody").inner_text()
    assert rows.count("Not dialled (stopped)") == 3
    assert "Skipped: do-not-call" in rows and "Pending" not in rows
    assert "calls in the last minute" not in page.get_by_label("Progress").inner_text()
    assert "3 not dialled (stopped)" in page.get_by_label("Preview").inner_text()
    screenshot("campaign-stopped")

    page.get_by_role("link", name="All campaigns").click()
    row = page.get_by_role("row", name=re.compile("Spring leads"))
    assert "Stopped" in row.inner_text() and "1/min" in row.inner_text()
    assert row.locator("progress").get_attribute("max") == "5"
    screenshot("campaign-list")
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e]
