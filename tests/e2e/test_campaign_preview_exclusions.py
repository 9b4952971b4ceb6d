"""The pre-launch preview in a real browser: each rule's exclusions with their counts, and each
count opens the list of the contacts it excludes, with the rule named on each."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.services import audience_set
from contacts.compliance import policy_restore_defaults
from contacts.models import CompliancePolicy, ConsentRecord, ConsentType, Contact, DialAttempt
from tests.campaigns.test_compliance_paths import zone_at_local_hour
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import CampaignFactory, DoNotCallEntryFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def rule_row(page, rule: str):
    rules = page.get_by_role("table", name="Exclusions by rule")
    return rules.get_by_role("row", name=re.compile(rule))


def rule_count(page, rule: str) -> str:
    return rule_row(page, rule).get_by_role("cell").first.inner_text()


def test_it_shows_each_rules_exclusions_and_lists_them(page, live_server, role_users, screenshot):
    policy_restore_defaults()
    CompliancePolicy.objects.filter(pk=1).update(max_attempts_per_day=1)
    midday = zone_at_local_hour(12)
    ready = Contact.objects.create(name="Ready Rae", phone_e164="+12125550101", time_zone=midday)
    opted_out = Contact.objects.create(
        name="Opted Otto", phone_e164="+12125550102", time_zone=midday
    )
    DoNotCallEntryFactory(phone_e164=opted_out.phone_e164)
    no_consent = Contact.objects.create(
        name="Nora Noconsent", phone_e164="+12125550103", time_zone=midday
    )
    late = Contact.objects.create(
        name="Late Lou", phone_e164="+13055550104", time_zone=zone_at_local_hour(22)
    )
    capped = Contact.objects.create(name="Capped Cal", phone_e164="+12125550105", time_zone=midday)
    DialAttempt.objects.create(phone_e164=capped.phone_e164, at=timezone.now(), source="test")
    for contact in (ready, opted_out, late, capped):
        ConsentRecord.objects.create(
            contact=contact,
            consent_type=ConsentType.WRITTEN,
            given_at=timezone.now() - timedelta(days=3),
            evidence="Signed form",
        )
    campaign = CampaignFactory(
        name="Spring renewals",
        required_consent_type=ConsentType.WRITTEN,
        window_days=[0, 1, 2, 3, 4, 5, 6],
        window_start_hour=0,
        window_end_hour=24,
    )
    audience_set(campaign=campaign, contacts=[ready, opted_out, no_consent, late, capped])

    sign_in(page, role_users["manager"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/campaigns/{campaign.pk}/")
    preview = page.get_by_label("Preview")
    preview.get_by_text("1 of 5").wait_for()
    assert rule_count(page, "Do-not-call list") == "1"
    assert rule_count(page, "Consent") == "1"
    assert rule_count(page, "Outside calling hours") == "1"
    assert rule_count(page, "Frequency cap") == "1"
    assert rule_count(page, "Public holiday") == "0"
    # Late Lou's Florida number: every party must consent to a recording there.
    assert "1 contact in places where every party must consent" in preview.inner_text()
    screenshot("campaign-preview-exclusions")

    rule_row(page, "Consent").get_by_role("link").click()
    entries = page.locator("#entries")
    entries.get_by_text("Nora Noconsent").wait_for()
    assert "Ready Rae" not in entries.inner_text()

    page.goto(f"/campaigns/{campaign.pk}/")
    rule_row(page, "Outside calling hours").get_by_role("link").click()
    entries.get_by_text("Late Lou").wait_for()
    assert "At the start: Outside calling hours for Florida: 8:00–20:00 local." in (
        entries.inner_text()
    )
    consent_badge = entries.get_by_text("all-party consent")
    assert consent_badge.get_attribute("title") == (
        "Florida: every party must consent to a recording"
    )
    screenshot("campaign-preview-hours-list")
