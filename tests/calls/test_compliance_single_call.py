"""A single call (page and API) outside the calling policy is refused with the rule named, and
a call held up until after the hours is not dialled."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from calls.models import Agent, Call, CallState
from calls.services import agents_sync, call_create, call_dispatch
from contacts.compliance import policy_restore_defaults
from contacts.models import CallingHoursRule, CompliancePolicy, Contact, DialAttempt
from dashboard.services import api_token_create

pytestmark = pytest.mark.django_db

FLORIDA_RULE = "Outside calling hours for Florida: 8:00–20:00 local."


def zone_at_local_hour(hour: int) -> str:
    """An Etc/GMT zone whose local hour is `hour` right now (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(ZoneInfo("UTC")).hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


@pytest.fixture
def revrag(make_account):
    account = make_account("revrag")
    agents_sync(account=account)
    return account


@pytest.fixture
def operator_token(role_users):
    created = api_token_create(
        name="crm", role=Role.OPERATOR, created_by=role_users[Role.OPERATOR.value]
    )
    return {"Authorization": f"Bearer {created.plaintext}"}


def late_in_florida() -> Contact:
    """A Miami number whose contact lives where it is 22:00 now: past Florida's 20:00."""
    policy_restore_defaults()
    CompliancePolicy.objects.filter(pk=1).update(max_attempts_per_day=0, max_attempts_per_week=0)
    return Contact.objects.create(
        name="Late Lou", phone_e164="+13055550142", time_zone=zone_at_local_hour(22)
    )


def test_it_refuses_the_new_call_form_outside_hours_naming_the_rule(client_as, revrag):
    contact = late_in_florida()
    agent = Agent.objects.filter(vendor_account=revrag).first()
    response = client_as("operator").post(
        reverse("calls:new"),
        {"vendor_account": revrag.pk, "agent": agent.pk, "contact": contact.pk, "to_number": ""},
    )
    assert response.status_code == 400
    assert FLORIDA_RULE in response.context["form"].non_field_errors()
    assert FLORIDA_RULE in response.content.decode()
    assert not Call.objects.exists() and not DialAttempt.objects.exists()


def test_it_refuses_the_api_call_outside_hours_with_a_400_naming_the_rule(
    client, revrag, operator_token
):
    contact = late_in_florida()
    agent = Agent.objects.filter(vendor_account=revrag).first()
    response = client.post(
        reverse("api_calls"),
        {"vendor_account": revrag.pk, "agent": agent.pk, "contact": contact.pk},
        content_type="application/json",
        headers=operator_token,
    )
    assert response.status_code == 400
    assert FLORIDA_RULE in str(response.json()["error"])
    assert not Call.objects.exists()


def test_it_refuses_a_call_over_the_frequency_cap_whoever_placed_the_others(
    client, revrag, operator_token
):
    CompliancePolicy.objects.filter(pk=1).update(max_attempts_per_day=2)
    agent = Agent.objects.filter(vendor_account=revrag).first()
    # An earlier attempt by a campaign counts as much as one by the API.
    DialAttempt.objects.create(phone_e164="+14155550177", at=timezone.now(), source="campaign 3")
    body = {"vendor_account": revrag.pk, "agent": agent.pk, "to_number": "+14155550177"}
    first = client.post(
        reverse("api_calls"), body, content_type="application/json", headers=operator_token
    )
    second = client.post(
        reverse("api_calls"), body, content_type="application/json", headers=operator_token
    )
    assert first.status_code == 201
    assert second.status_code == 400
    assert "Frequency cap: at most 2 attempts per 24 h" in str(second.json()["error"])
    assert Call.objects.count() == 1
    assert DialAttempt.objects.get(source="single call").call_id == first.json()["id"]


def test_it_does_not_dial_a_call_held_up_until_after_hours(revrag, sandbox):
    """A call written inside the hours whose dispatch comes after them (the vendor was down,
    the rate limit was reached) fails with the rule instead of ringing late."""
    contact = late_in_florida()
    CallingHoursRule.objects.filter(place="US-FL").update(start_minute=0, end_minute=24 * 60)
    agent = Agent.objects.filter(vendor_account=revrag).first()
    call, _created = call_create(vendor_account=revrag, agent=agent, contact=contact)
    CallingHoursRule.objects.filter(place="US-FL").update(start_minute=8 * 60, end_minute=20 * 60)

    call_dispatch(call_id=call.pk)

    call.refresh_from_db()
    assert call.state == CallState.FAILED
    assert call.error_message == f"Not dialled: {FLORIDA_RULE}"
    assert sandbox.log("revrag", method="POST", path_contains="/trigger/single") == []
