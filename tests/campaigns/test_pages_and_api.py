"""Campaign pages and API: create, preview, live counters, transitions (409), audit, roles."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from campaigns.models import Campaign, CampaignStatus, DialEntry
from tests.factories import (
    AgentFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallEntryFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def revrag_agent():
    return AgentFactory(vendor_account=VendorAccountFactory())


def form_data(chosen, **extra):
    """The campaign form as a user fills it, for the agent `chosen` (extra fields override)."""
    data = {
        "name": "Renewals",
        "vendor_account": chosen.vendor_account_id,
        "agent": chosen.pk,
        "audience_mode": "filter",
        "audience_search": "",
        "audience_time_zone": "",
        "var_name_0": "name",
        "var_source_0": "name",
        "window_days": ["0", "1", "2", "3", "4", "5", "6"],
        "window_start_hour": "0",
        "window_end_hour": "24",
        "default_time_zone": "UTC",
        "schedule_time_zone": "UTC",
        "calls_per_minute": "30",
        "max_concurrent_calls": "3",
        "retry_outcome_0": "no_answer",
        "retry_after_0": "2",
        "retry_unit_0": "hours",
        "retry_attempts_0": "3",
    }
    data.update(extra)
    return data


def test_an_operator_creates_a_campaign_and_sees_its_preview(client_as, revrag_agent):
    ContactFactory(name="Ada", phone_e164="+14155550101")
    ContactFactory(name="Bob", phone_e164="+14155550102")
    DoNotCallEntryFactory(phone_e164="+14155550102")
    client = client_as("operator")
    new = client.get(reverse("campaigns:new"))
    assert new.status_code == 200
    assert "no_answer" in new.content.decode()  # sensible retry defaults
    response = client.post(reverse("campaigns:new"), form_data(revrag_agent))
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert campaign.kind == "paced" and campaign.entries.count() == 2
    page = client.get(reverse("campaigns:detail", kwargs={"pk": campaign.pk})).content.decode()
    assert "1 of 2" in page and 'href="?group=dnc#entries">1</a>' in page
    listed = client.get(reverse("campaigns:detail", kwargs={"pk": campaign.pk}), {"group": "dnc"})
    assert "+14155550102" in listed.content.decode()
    assert "+14155550101" not in listed.content.decode().split('id="entries"')[1]


def test_the_form_refuses_templates_reaching_beyond_contact_fields(client_as, revrag_agent):
    response = client_as("operator").post(
        reverse("campaigns:new"),
        form_data(revrag_agent, var_name_1="x", var_text_1="{{ settings.SECRET_KEY }}"),
    )
    assert response.status_code == 400
    assert "is not a contact field" in response.content.decode()
    assert not Campaign.objects.exists()


def test_live_counters_answer_htmx_and_stop_asks_first(client_as, revrag_agent):
    campaign = CampaignFactory(
        vendor_account=revrag_agent.vendor_account, agent=revrag_agent, status="running"
    )
    client = client_as("operator")
    url = reverse("campaigns:detail", kwargs={"pk": campaign.pk})
    live = client.get(url, headers={"HX-Request": "true", "HX-Target": "campaign-live"})
    assert 'id="campaign-live"' in live.content.decode() and "every 3s" in live.content.decode()
    assert "<html" not in live.content.decode()
    confirm = client.get(reverse("campaigns:stop", kwargs={"pk": campaign.pk}))
    assert "no new call starts" in confirm.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
    client.post(reverse("campaigns:stop", kwargs={"pk": campaign.pk}))
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.STOPPED
    assert AuditEvent.objects.filter(action=AuditAction.CAMPAIGN_STOPPED).count() == 1
    again = client.post(reverse("campaigns:launch", kwargs={"pk": campaign.pk}), follow=True)
    assert "stopped campaign cannot be launched" in again.content.decode()


def test_managers_read_but_cannot_run(client_as):
    campaign = CampaignFactory(status="running")
    client = client_as("manager")
    assert client.get(reverse("campaigns:detail", kwargs={"pk": campaign.pk})).status_code == 200
    assert client.post(reverse("campaigns:stop", kwargs={"pk": campaign.pk})).status_code == 403
    api = client.post(reverse("api_campaign_stop", kwargs={"pk": campaign.pk}))
    assert api.status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_the_api_creates_reads_and_answers_409_on_an_invalid_transition(client_as, revrag_agent):
    contacts = [ContactFactory(phone_e164=f"+1415555020{n}") for n in range(3)]
    client = client_as("operator")
    created = client.post(
        reverse("api_campaigns"),
        data=json.dumps(
            {
                "name": "API campaign",
                "vendor_account": revrag_agent.vendor_account_id,
                "agent": revrag_agent.pk,
                "contacts": [contacts[0].pk, contacts[2].pk],
                "window_days": [0, 1, 2, 3, 4, 5, 6],
                "window_start_hour": 0,
                "window_end_hour": 24,
            }
        ),
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "draft" and body["counters"]["total"] == 2
    assert DialEntry.objects.filter(campaign_id=body["id"]).count() == 2
    pk = body["id"]
    pause = client.post(reverse("api_campaign_pause", kwargs={"pk": pk}))
    assert pause.status_code == 409
    assert pause.json()["error"] == {
        "code": "conflict",
        "message": "A draft campaign cannot be paused.",
    }
    launched = client.post(reverse("api_campaign_launch", kwargs={"pk": pk}))
    assert launched.status_code == 200 and launched.json()["status"] == "running"
    assert client.post(reverse("api_campaign_stop", kwargs={"pk": pk})).status_code == 200
    relaunch = client.post(reverse("api_campaign_launch", kwargs={"pk": pk}))
    assert relaunch.status_code == 409
    assert relaunch.json()["error"]["code"] == "conflict"
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert AuditAction.CAMPAIGN_LAUNCHED in actions and AuditAction.CAMPAIGN_STOPPED in actions
    listing = client_as("manager").get(reverse("api_campaigns"))
    assert listing.status_code == 200 and listing.json()["results"][0]["id"] == pk
    assert client_as("manager").post(reverse("api_campaigns"), data={}).status_code == 403


def test_editing_a_draft_keeps_its_picked_audience(client_as, revrag_agent):
    picked = ContactFactory(phone_e164="+14155550301")
    ContactFactory(phone_e164="+14155550302")
    client = client_as("operator")
    client.post(
        reverse("campaigns:new"),
        form_data(revrag_agent, audience_mode="pick", picked_contacts=[str(picked.pk)]),
    )
    campaign = Campaign.objects.get()
    edit = client.get(reverse("campaigns:edit", kwargs={"pk": campaign.pk}))
    assert f'value="{picked.pk}"' in edit.content.decode()
    client.post(
        reverse("campaigns:edit", kwargs={"pk": campaign.pk}),
        form_data(
            revrag_agent, name="Renamed", audience_mode="pick", picked_contacts=[str(picked.pk)]
        ),
    )
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"
    assert list(campaign.entries.values_list("contact_id", flat=True)) == [picked.pk]
