"""Consent and recording disclosure on campaigns, against the sandbox over HTTP where a vendor is
asked: the preview excludes contacts without valid consent, launch settles them, the paced
dispatcher and the native push check consent again right before dialling, and launch is
refused while contacts in all-party recording-consent places would get no disclosure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from calls.models import Call
from calls.services import agents_sync
from campaigns.dispatch import dispatch_due
from campaigns.models import Campaign, CampaignKind, CampaignStatus, DialEntry, DialState
from campaigns.selectors import preview_groups
from campaigns.services import CampaignError, campaign_transition
from contacts.compliance import policy_restore_defaults
from contacts.models import CompliancePolicy, ConsentRecord, ConsentType, Contact, DialAttempt
from tests.campaigns.test_compliance_paths import campaign_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def revrag(make_account, sandbox):
    sandbox.set_rate_limit("revrag", 6000, 60)
    account = make_account("revrag", rate_limits={"default": 6000})
    agents_sync(account=account)
    return account


@pytest.fixture
def voice_platform(make_account):
    account = make_account("voice_platform")
    agents_sync(account=account)
    return account


def consent(contact: Contact, *, days_left: int | None = None) -> ConsentRecord:
    now = timezone.now()
    return ConsentRecord.objects.create(
        contact=contact,
        consent_type=ConsentType.WRITTEN,
        given_at=now - timedelta(days=10),
        expires_at=now + timedelta(days=days_left) if days_left is not None else None,
        evidence="Signed form",
    )


def people(*names: str) -> list[Contact]:
    # New York numbers: not an all-party recording-consent state.
    return [
        Contact.objects.create(name=name, phone_e164=f"+1212555{n:04d}")
        for n, name in enumerate(names, start=100)
    ]


def test_it_excludes_contacts_without_valid_consent_from_the_preview_and_launch(revrag):
    valid, expired, never = people("Valid Val", "Expired Ed", "Never Nell")
    consent(valid)
    consent(expired, days_left=-1)
    campaign = campaign_of(
        revrag,
        CampaignKind.PACED,
        [valid, expired, never],
        required_consent_type=ConsentType.WRITTEN,
    )
    entry_of = {entry.contact_id: entry.pk for entry in DialEntry.objects.filter(campaign=campaign)}

    groups = preview_groups(campaign)

    assert groups.dial == [entry_of[valid.pk]]
    assert sorted(groups.consent) == sorted([entry_of[expired.pk], entry_of[never.pk]])
    campaign_transition(campaign_id=campaign.pk, action="launch")
    states = dict(DialEntry.objects.filter(campaign=campaign).values_list("contact_id", "state"))
    assert states == {
        valid.pk: DialState.PENDING,
        expired.pk: DialState.SKIPPED_CONSENT,
        never.pk: DialState.SKIPPED_CONSENT,
    }


def test_it_lists_the_contacts_each_rule_excludes_on_the_campaign_page(revrag, client_as):
    with_consent, without = people("With Wanda", "Without Walt")
    consent(with_consent)
    campaign = campaign_of(
        revrag, CampaignKind.PACED, [with_consent, without], required_consent_type="written"
    )
    client = client_as("manager")
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'href="?group=consent#entries">1</a>' in page
    listed = client.get(f"/campaigns/{campaign.pk}/?group=consent").content.decode()
    entries = listed.split('id="entries"')[1]
    assert "Without Walt" in entries and "With Wanda" not in entries


def test_the_dispatcher_checks_consent_again_right_before_dialling(revrag, sandbox):
    kept, withdrawn = people("Kept Kim", "Withdrawn Will")
    consent(kept)
    record = consent(withdrawn)
    campaign = campaign_of(
        revrag,
        CampaignKind.PACED,
        [kept, withdrawn],
        required_consent_type="written",
        calls_per_minute=600,
    )
    campaign_transition(campaign_id=campaign.pk, action="launch")
    record.delete()  # consent withdrawn after launch, before the dial
    # A few seconds behind its pace: this run may start both entries.
    Campaign.objects.filter(pk=campaign.pk).update(
        next_slot_at=timezone.now() - timedelta(seconds=4)
    )

    result = dispatch_due(campaign.pk)

    assert result.skipped_consent == 1
    assert [call.to_number for call in Call.objects.filter(campaign=campaign)] == [kept.phone_e164]
    skipped = DialEntry.objects.get(contact=withdrawn)
    assert skipped.state == DialState.SKIPPED_CONSENT
    assert skipped.note == "No valid written consent at dialling time."
    assert len(sandbox.log("revrag", method="POST", path_contains="/trigger/single")) == 1


def test_the_native_push_sends_only_contacts_with_valid_consent(voice_platform, sandbox):
    kept, lapsed = people("Kept Kim", "Lapsed Lea")
    consent(kept)
    record = consent(lapsed)
    campaign = campaign_of(
        voice_platform, CampaignKind.NATIVE, [kept, lapsed], required_consent_type="written"
    )
    # Valid at the preview, expired by the push: the push checks again.
    ConsentRecord.objects.filter(pk=record.pk).update(expires_at=timezone.now())
    campaign_transition(campaign_id=campaign.pk, action="launch")  # pushes on commit

    assert sandbox.state("voice_platform")["contacts"] == 1
    assert DialEntry.objects.get(contact=lapsed).state == DialState.SKIPPED_CONSENT
    assert DialEntry.objects.get(contact=kept).state == DialState.DIALLING


def test_it_refuses_a_launch_while_the_recording_disclosure_is_empty_for_all_party_places(
    revrag,
):
    california = Contact.objects.create(name="Cal", phone_e164="+14155550199")
    new_york = Contact.objects.create(name="Nyla", phone_e164="+12125550199")
    campaign = campaign_of(
        revrag,
        CampaignKind.PACED,
        [california, new_york],
        disclosure_variable="disclosure",
        variables_template={"disclosure": "{{ contact.email }}"},  # empty for both
    )
    groups = preview_groups(campaign)
    assert list(groups.all_party.values()) == ["California"]

    with pytest.raises(CampaignError) as refused:
        campaign_transition(campaign_id=campaign.pk, action="launch")

    assert "“disclosure” is empty for 1 contact in" in refused.value.message
    assert "(e.g. Cal)" in refused.value.message
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    campaign.variables_template = {"disclosure": "This call is recorded."}
    campaign.save()
    campaign_transition(campaign_id=campaign.pk, action="launch")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING


def test_the_preview_names_who_waits_for_hours_a_holiday_or_a_cap(revrag):
    policy_restore_defaults()
    CompliancePolicy.objects.filter(pk=1).update(max_attempts_per_day=1)
    christmas_noon_in_chicago = datetime(2026, 12, 25, 18, 0, tzinfo=UTC)
    holiday = Contact.objects.create(
        name="Alabama", phone_e164="+12055550100", time_zone="America/Chicago"
    )
    late = Contact.objects.create(name="Late", phone_e164="+13055550142", time_zone="Asia/Tokyo")
    capped = Contact.objects.create(name="Capped", phone_e164="+12125550143")
    DialAttempt.objects.create(
        phone_e164=capped.phone_e164, at=christmas_noon_in_chicago - timedelta(hours=1)
    )
    free = Contact.objects.create(name="Free", phone_e164="+12125550144")
    campaign = campaign_of(revrag, CampaignKind.PACED, [holiday, late, capped, free])
    entry_of = {entry.contact_id: entry.pk for entry in DialEntry.objects.filter(campaign=campaign)}

    groups = preview_groups(campaign, now=christmas_noon_in_chicago)

    assert groups.holiday == [entry_of[holiday.pk]]
    assert groups.hours == [entry_of[late.pk]]
    assert groups.cap == [entry_of[capped.pk]]
    assert groups.dial == [entry_of[free.pk]]
    assert groups.rules == {
        entry_of[holiday.pk]: "No calls on public holidays in Alabama (Christmas Day)",
        entry_of[late.pk]: "Outside calling hours for Florida: 8:00–20:00 local",
        entry_of[capped.pk]: "Frequency cap: at most 1 attempt per 24 h",
    }


def test_the_api_takes_the_consent_and_disclosure_a_campaign_requires(revrag, client_as):
    california = Contact.objects.create(name="Cal", phone_e164="+14155550199")
    # With the consent the campaign requires: only contacts to be dialled need a disclosure.
    ConsentRecord.objects.create(
        contact=california,
        consent_type=ConsentType.VERBAL,
        given_at=timezone.now() - timedelta(days=1),
        call_id=12,
    )
    agent = revrag.agents.filter(is_active=True).first()
    client = client_as("operator")
    body = {
        "name": "API consent",
        "vendor_account": revrag.pk,
        "agent": agent.pk,
        "contacts": [california.pk],
        "required_consent_type": "verbal",
        "disclosure_variable": "disclosure",
        "variables_template": {"other": "x"},
    }
    refused = client.post("/api/v1/campaigns/", body, content_type="application/json")
    assert refused.status_code == 400
    assert "disclosure_variable" in refused.json()["error"]["fields"]
    body["variables_template"] = {"disclosure": "{{ contact.email }}"}
    created = client.post("/api/v1/campaigns/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert (created.json()["required_consent_type"], created.json()["disclosure_variable"]) == (
        "verbal",
        "disclosure",
    )
    launch = client.post(f"/api/v1/campaigns/{created.json()['id']}/launch")
    assert launch.status_code == 409
    assert "Recording disclosure" in launch.json()["error"]["message"]
