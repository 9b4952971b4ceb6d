"""Hostile input in the page forms (issue 15): the new-call, contact and campaign forms answer
a 4xx with the error on the field, store nothing, call no vendor, and the pages still answer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import Agent, Call
from calls.services import agents_sync
from campaigns.models import Campaign
from contacts.models import Contact
from tests.dashboard.json_attacks import SIX_MEGABYTES, VALUE_ATTACKS
from tests.factories import AgentFactory, CampaignFactory, ContactFactory, VendorAccountFactory
from vendors.models import VendorAccount, VendorKind

NUL = "\x00"


@pytest.fixture
def revrag_agent(make_account):
    account = make_account("revrag")
    agents_sync(account=account)
    return Agent.objects.filter(vendor_account=account).first()


def new_call_data(agent, **rows) -> dict:
    data = {
        "vendor_account": agent.vendor_account_id,
        "agent": agent.pk,
        "to_number": "+1 415 555 0100",
        "var_key": ["name"],
        "var_value": ["Ada"],
        "meta_key": ["crm_id"],
        "meta_value": ["A-1"],
    }
    data.update(rows)
    return data


def assert_pages_answer(client, *urls: str) -> None:
    for url in urls:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("field", "rows"),
    [
        ("variables", {"var_key": ["na\x00me"]}),
        ("variables", {"var_value": [f"Ada{NUL}"]}),
        ("variables", {"var_value": ["x" * 70_000]}),
        ("metadata", {"meta_key": [NUL]}),
        ("metadata", {"meta_value": [f"A-1{NUL}"]}),
    ],
)
def test_it_refuses_hostile_rows_in_the_new_call_form_and_calls_nobody(
    client_as, revrag_agent, sandbox, django_capture_on_commit_callbacks, field, rows
):
    client = client_as("operator")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("calls:new"), new_call_data(revrag_agent, **rows))
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not Call.objects.exists()
    assert sandbox.log("revrag", method="POST") == []
    assert_pages_answer(client, reverse("calls:list"), reverse("api_calls"))


def test_it_answers_413_to_a_six_megabyte_new_call_form(
    client_as, revrag_agent, sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("operator").post(
            reverse("calls:new"), new_call_data(revrag_agent, var_value=["x" * SIX_MEGABYTES])
        )
    assert response.status_code == 413
    assert "Request too large" in response.content.decode()
    assert not Call.objects.exists()
    assert sandbox.log("revrag", method="POST") == []


@pytest.mark.parametrize("field", ["name", "phone", "email", "time_zone"])
def test_it_refuses_a_nul_in_any_contact_form_field(client_as, field):
    client = client_as("operator")
    data = {"name": "Ada", "phone": "+14155552671", "email": "ada@example.com", "time_zone": ""}
    data[field] = f"{data[field]}{NUL}"
    response = client.post(reverse("contacts:create"), data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not Contact.objects.exists()
    assert_pages_answer(client, reverse("contacts:list"), reverse("contacts_api:list"))


def test_it_keeps_a_contact_as_it_was_after_a_hostile_edit(client_as):
    contact = ContactFactory(name="Ada", phone_e164="+14155552671")
    client = client_as("operator")
    response = client.post(
        reverse("contacts:edit", args=[contact.pk]), {"name": f"Eve{NUL}", "phone": "+14155552671"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    contact.refresh_from_db()
    assert contact.name == "Ada"
    assert_pages_answer(client, reverse("contacts:detail", args=[contact.pk]))


def test_it_answers_413_to_a_six_megabyte_contact_form(client_as):
    response = client_as("operator").post(
        reverse("contacts:create"), {"name": "x" * SIX_MEGABYTES, "phone": "+14155552671"}
    )
    assert response.status_code == 413
    assert not Contact.objects.exists()


def campaign_data(agent, **extra) -> dict:
    # The campaign form has no JSON left: variables and retry rules are rows of plain fields.
    data = {
        "name": "Renewals",
        "vendor_account": agent.vendor_account_id,
        "agent": agent.pk,
        "audience_mode": "filter",
        "var_name_0": "greeting",
        "var_source_0": "text",
        "var_text_0": "Hello {{ contact.name }}",
        "window_days": ["0", "1", "2", "3", "4"],
        "window_start_hour": "9",
        "window_end_hour": "18",
        "default_time_zone": "UTC",
        "schedule_time_zone": "UTC",
        "calls_per_minute": "10",
        "max_concurrent_calls": "3",
        "retry_outcome_0": "not_picked",
        "retry_after_0": "2",
        "retry_unit_0": "hours",
        "retry_attempts_0": "3",
    }
    data.update(extra)
    return data


@pytest.fixture
def agent():
    return AgentFactory(vendor_account=VendorAccountFactory())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("var_name_0", f"greet{NUL}ing"),
        ("var_text_0", f"Hello {NUL}"),
        ("var_text_0", "x" * 100_000),
        ("retry_after_0", f"2{NUL}"),
        ("audience_search", f"Ada{NUL}"),
    ],
)
def test_it_refuses_hostile_text_in_the_campaign_form_rows(client_as, agent, field, value):
    existing = CampaignFactory(vendor_account=agent.vendor_account, agent=agent)
    client = client_as("operator")
    response = client.post(reverse("campaigns:new"), campaign_data(agent, **{field: value}))
    assert response.status_code == 400
    assert response.context["form"].errors
    assert list(Campaign.objects.values_list("pk", flat=True)) == [existing.pk]
    assert_pages_answer(
        client,
        reverse("campaigns:list"),
        reverse("campaigns:detail", kwargs={"pk": existing.pk}),
        reverse("api_campaigns"),
    )


def test_it_keeps_a_draft_campaign_as_it_was_after_a_hostile_edit(client_as, agent):
    campaign = CampaignFactory(vendor_account=agent.vendor_account, agent=agent, name="Renewals")
    response = client_as("operator").post(
        reverse("campaigns:edit", kwargs={"pk": campaign.pk}),
        campaign_data(agent, name="Changed", var_text_0=f"Hello {NUL}"),
    )
    assert response.status_code == 400
    campaign.refresh_from_db()
    assert campaign.name == "Renewals"


def test_it_refuses_a_nul_in_a_campaign_name(client_as, agent):
    response = client_as("operator").post(
        reverse("campaigns:new"), campaign_data(agent, name=f"Renewals{NUL}")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert not Campaign.objects.exists()


def test_it_answers_413_to_a_six_megabyte_campaign_form(client_as, agent):
    response = client_as("operator").post(
        reverse("campaigns:new"),
        campaign_data(agent, var_text_0="x" * SIX_MEGABYTES),
    )
    assert response.status_code == 413
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "attack", ["nul_in_a_key", "lone_surrogate_in_a_value", "nesting_100000_deep"]
)
def test_it_refuses_hostile_json_in_a_voice_agent_config_without_asking_the_vendor(
    client_as, make_account, sandbox, attack
):
    voice = make_account("voice_platform")
    response = client_as("operator").post(
        reverse("calls:agent_new"),
        {
            "request_key": "k1",
            "vendor_account": voice.pk,
            "name": "Hostile",
            "config": VALUE_ATTACKS[attack],
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["config"]
    assert not Agent.objects.filter(name="Hostile").exists()
    assert sandbox.log("voice_platform", method="POST") == []


def test_it_refuses_rate_limits_nested_too_deep_for_json_loads(client_as):
    response = client_as("admin").post(
        reverse("settings_vendor_new"),
        {
            "kind": VendorKind.REVRAG,
            "name": "Revrag production",
            "mode": "live",
            "base_url_choice": "https://api.revrag.ai",
            "api_key": "sk-test-1234567890",
            "rate_limits": VALUE_ATTACKS["nesting_100000_deep"],
        },
    )
    assert response.status_code == 200  # the settings forms answer 200 with their errors
    assert "Nested more than 32 levels deep" in response.context["form"].errors["rate_limits"][0]
    assert not VendorAccount.objects.exists()
