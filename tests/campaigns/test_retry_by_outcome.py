"""Retry rules of paced campaigns speak the common outcomes; older rules keep working."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.urls import reverse
from django.utils import timezone

from calls.models import CallState, CommonOutcome
from campaigns.dispatch import record_outcome
from campaigns.models import Campaign, DialState
from campaigns.schedule import check_retry_rules, common_retry_rules
from tests.factories import (
    AgentFactory,
    CallFactory,
    CampaignFactory,
    ContactFactory,
    DialEntryFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db

CALLBACK_RULE = {"retry_after_minutes": 1440, "max_attempts": 2}


def _campaign(retry_rules):
    agent = AgentFactory(vendor_account=VendorAccountFactory())
    return CampaignFactory(
        vendor_account=agent.vendor_account,
        agent=agent,
        status="running",
        retry_rules=retry_rules,
        launched_at=timezone.now(),
    )


def _ended_entry(campaign, phone, common, *, old=""):
    contact = ContactFactory(phone_e164=phone)
    call = CallFactory(
        vendor_account=campaign.vendor_account,
        agent=campaign.agent,
        campaign=campaign,
        contact=contact,
        state=CallState.ENDED,
        outcome=old,
        common_outcome=common,
        ended_at=timezone.now(),
    )
    return DialEntryFactory(
        campaign=campaign,
        contact=contact,
        phone_e164=phone,
        state=DialState.DIALLING,
        attempts=1,
        last_call=call,
    )


def test_it_retries_a_callback_request_by_its_rule_and_never_an_opt_out(db):
    campaign = _campaign({"callback_requested": CALLBACK_RULE, "declined": None})
    callback = _ended_entry(campaign, "+14155550801", CommonOutcome.CALLBACK_REQUESTED)
    declined = _ended_entry(campaign, "+14155550802", CommonOutcome.DECLINED)
    opted_out = _ended_entry(campaign, "+14155550803", CommonOutcome.OPTED_OUT)
    for entry in (callback, declined, opted_out):
        assert record_outcome(entry_id=entry.pk) == 1
        entry.refresh_from_db()
    assert callback.state == DialState.RETRY_SCHEDULED
    assert callback.next_attempt_at - callback.last_call.ended_at == timedelta(days=1)
    assert (declined.state, opted_out.state) == (DialState.COMPLETED, DialState.COMPLETED)


def test_it_reads_a_stored_rule_under_an_older_outcome_name(db):
    campaign = _campaign({"not_picked": {"retry_after_minutes": 30, "max_attempts": 3}})
    entry = _ended_entry(campaign, "+14155550804", CommonOutcome.NO_ANSWER, old="not_picked")
    record_outcome(entry_id=entry.pk)
    entry.refresh_from_db()
    assert entry.state == DialState.RETRY_SCHEDULED


def test_it_translates_older_names_and_refuses_to_retry_an_opt_out():
    rule = {"retry_after_minutes": 60, "max_attempts": 2}
    assert check_retry_rules({"rejected": rule, "declined": None}) == {
        "declined": None,
        "busy": rule,
    }
    assert common_retry_rules({"error": rule}) == {"failed_vendor": rule}
    with pytest.raises(ValueError, match="never retries"):
        check_retry_rules({"opted_out": rule})
    with pytest.raises(ValueError, match="not a call outcome"):
        check_retry_rules({"teleported": rule})


def test_the_migration_rewrites_stored_rules_in_common_outcomes(db):
    campaign = _campaign(
        {
            "not_picked": {"retry_after_minutes": 120, "max_attempts": 3},
            "voicemail": {"retry_after_minutes": 120, "max_attempts": 3},
            "rejected": None,
        }
    )
    migration = import_module("campaigns.migrations.0005_retry_rules_in_common_outcomes")
    migration.translate(django_apps, None)
    campaign.refresh_from_db()
    assert campaign.retry_rules == {
        "voicemail": {"retry_after_minutes": 120, "max_attempts": 3},
        "no_answer": {"retry_after_minutes": 120, "max_attempts": 3},
        "busy": None,
        "declined": None,
    }


def test_the_form_offers_common_outcomes_and_never_an_opt_out(client_as):
    page = client_as("operator").get(reverse("campaigns:new")).content.decode()
    first_row = page[page.index('name="retry_outcome_0"') : page.index('name="retry_outcome_1"')]
    assert '<option value="callback_requested">Callback requested</option>' in first_row
    assert 'value="opted_out"' not in first_row
    assert 'value="not_picked"' not in first_row
    assert not Campaign.objects.exists()
