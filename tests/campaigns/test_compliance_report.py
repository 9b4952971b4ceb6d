"""The compliance report: each attempt with the recipient's local time, the rules checked and
the consent basis, each suppression with its reason; streamed CSV, a clear 400 on a bad range."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import CallState
from campaigns.models import DialState
from contacts.compliance import policy_restore_defaults
from contacts.models import ConsentType
from tests.factories import (
    CallFactory,
    CampaignFactory,
    ConsentRecordFactory,
    ContactFactory,
    DialEntryFactory,
)

pytestmark = pytest.mark.django_db


def read_report(client, campaign, **params) -> list[dict[str, str]]:
    response = client.get(f"/campaigns/{campaign.pk}/compliance.csv", params)
    assert response.status_code == 200, response.content
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_it_reports_each_attempt_with_local_time_rules_and_consent_basis(client_as):
    policy_restore_defaults()
    campaign = CampaignFactory(required_consent_type=ConsentType.WRITTEN)
    miami = ContactFactory(name="Mia", phone_e164="+13055550111", time_zone="America/New_York")
    record = ConsentRecordFactory(contact=miami, evidence="Signed web form")
    call = CallFactory(campaign=campaign, contact=miami, state=CallState.ENDED)
    DialEntryFactory(campaign=campaign, contact=miami, state=DialState.COMPLETED, last_call=call)
    unconsented = ContactFactory(name="Una")
    DialEntryFactory(
        campaign=campaign,
        contact=unconsented,
        state=DialState.SKIPPED_CONSENT,
        note="No valid written consent at dialling time.",
    )
    waiting = ContactFactory(name="=Wes")
    DialEntryFactory(
        campaign=campaign,
        contact=waiting,
        note="Waiting: Frequency cap: at most 3 attempts per 24 h.",
    )
    DialEntryFactory(campaign=campaign)  # due, held back by nothing: not a suppression

    rows = read_report(client_as("manager"), campaign)

    assert [row["kind"] for row in rows] == ["attempt", "suppression", "suppression"]
    attempt = rows[0]
    local = timezone.localtime(call.created_at, timezone=miami_zone()).strftime("%Y-%m-%d %H:%M")
    assert attempt["recipient local time"].startswith(local)
    assert attempt["recipient time zone"] == "America/New_York"
    assert attempt["place"] == "US-FL (all-party recording consent)"
    assert "calling hours for Florida 8:00–20:00 local" in attempt["rules checked"]
    assert "consent: written" in attempt["rules checked"]
    assert attempt["consent basis"].startswith(f"Written consent {record.pk} given")
    assert attempt["consent basis"].endswith("no expiry: Signed web form")
    assert attempt["call id"] == str(call.pk)
    reasons = {row["contact"]: row["suppression reason"] for row in rows[1:]}
    assert reasons == {
        "Una": "Skipped: no valid consent. No valid written consent at dialling time.",
        "'=Wes": "Waiting: Frequency cap: at most 3 attempts per 24 h.",
    }
    assert rows[1]["consent basis"] == "no valid consent at this time"


def miami_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def test_it_keeps_to_the_date_range(client_as):
    campaign = CampaignFactory()
    old = CallFactory(campaign=campaign)
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    recent = CallFactory(campaign=campaign)
    today = timezone.localdate()
    rows = read_report(
        client_as("operator"),
        campaign,
        **{"from": str(today - timedelta(days=2)), "until": str(today)},
    )
    assert [row["call id"] for row in rows] == [str(recent.pk)]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "yesterday"}, "from: Enter a valid date."),
        ({"from": "2026-03-02", "until": "2026-03-01"}, "must end on or after"),
        ({"from": "2020-01-01", "until": "2026-03-01"}, "at most 400 days"),
    ],
)
def test_it_refuses_a_bad_range_with_a_clear_400(client_as, params, says):
    campaign = CampaignFactory()
    response = client_as("manager").get(f"/campaigns/{campaign.pk}/compliance.csv", params)
    assert response.status_code == 400
    assert says in response.content.decode()


def test_the_campaign_page_links_to_its_report(client_as):
    campaign = CampaignFactory()
    page = client_as("manager").get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'href="/campaigns/{campaign.pk}/compliance.csv"' in page
