"""The answers schemathesis found undocumented, asked for on purpose over HTTP.

Each request goes to the WSGI app and its answer through every applicable schemathesis check
against /api/schema/ (tests/dashboard/api_schema_support.py), so the test fails when the answer
and the document disagree, whichever of the two is wrong.
"""

from __future__ import annotations

import pytest
from django.test import Client

from calls.models import Call, WebhookStatus
from campaigns.models import Campaign, CampaignStatus
from contacts.models import Contact
from tests.dashboard.api_schema_support import (
    checks_except,
    load_schema,
)
from tests.factories import (
    AgentFactory,
    CallFactory,
    CampaignFactory,
    ContactFactory,
    VendorAccountFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db

schema = load_schema()


def _ask(admin_token, path: str, method: str, **parts):
    """Sends one request as the admin token and holds its answer to the schema."""
    case = schema[path][method].Case(**parts)
    return case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"}, checks=checks_except()
    )


def test_it_documents_a_call_that_has_no_outcome_yet(admin_token):
    call = CallFactory()
    assert call.outcome == ""
    detail = _ask(admin_token, "/api/v1/calls/{id}/", "GET", path_parameters={"id": call.pk})
    assert detail.json()["outcome"] == ""
    listed = _ask(admin_token, "/api/v1/calls/", "GET")
    assert [row["outcome"] for row in listed.json()["results"]] == [""]


def test_it_documents_a_contact_without_an_email_or_a_linkedin_url(admin_token):
    ContactFactory(email="", linkedin_url="")
    listed = _ask(admin_token, "/api/v1/contacts/", "GET")
    assert listed.json()["results"][0]["email"] == ""
    assert listed.json()["results"][0]["linkedin_url"] == ""


@pytest.mark.parametrize("action", ["launch", "pause", "resume", "stop"])
def test_it_documents_409_when_a_campaign_cannot_make_a_transition(admin_token, action):
    campaign = CampaignFactory(status=CampaignStatus.STOPPED)
    path = f"/api/v1/campaigns/{{id}}/{action}"
    refused = _ask(admin_token, path, "POST", path_parameters={"id": campaign.pk})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.STOPPED


def test_it_answers_409_for_launching_a_campaign_without_an_audience(admin_token):
    campaign = CampaignFactory()  # a draft with no contacts
    refused = _ask(
        admin_token, "/api/v1/campaigns/{id}/launch", "POST", path_parameters={"id": campaign.pk}
    )
    assert refused.status_code == 409
    assert "audience is empty" in refused.json()["error"]["message"]
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_it_documents_202_for_a_replay_and_409_for_an_event_processed_already(admin_token):
    failed = WebhookEventFactory(status=WebhookStatus.FAILED)
    processed = WebhookEventFactory(status=WebhookStatus.PROCESSED)
    path = "/api/v1/webhook-events/{id}/replay"
    replayed = _ask(admin_token, path, "POST", path_parameters={"id": failed.pk})
    assert replayed.status_code == 202
    refused = _ask(admin_token, path, "POST", path_parameters={"id": processed.pk})
    assert refused.status_code == 409


def test_it_documents_409_for_a_contact_that_exists_already(admin_token):
    existing = ContactFactory(phone_e164="+14155552671")
    body = {"phone": "+1 415 555 2671", "name": "Someone else"}
    refused = _ask(
        admin_token, "/api/v1/contacts/", "POST", body=body, media_type="application/json"
    )
    assert refused.status_code == 409
    assert Contact.objects.get().name == existing.name


@pytest.mark.parametrize("encoding", ["json", "urlencoded", "multipart"])
@pytest.mark.parametrize("to_number", ["", "+14155552671"])
def test_it_refuses_a_number_together_with_a_contact(in_process_api, encoding, to_number):
    account = VendorAccountFactory()
    agent = AgentFactory(vendor_account=account)
    contact = ContactFactory()
    body = {
        "vendor_account": account.pk,
        "agent": agent.pk,
        "to_number": to_number,
        "contact": contact.pk,
    }
    client = Client()
    client.force_login(_operator())
    if encoding == "json":
        response = client.post("/api/v1/calls/", body, content_type="application/json")
    elif encoding == "urlencoded":
        response = client.post(
            "/api/v1/calls/",
            "&".join(f"{name}={value}" for name, value in body.items()).replace("+", "%2B"),
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = client.post("/api/v1/calls/", body)  # multipart, as browsers send it
    assert response.status_code == 400, response.content
    assert not Call.objects.exists()


def test_it_documents_400_and_413_for_every_operation_with_a_body():
    for path, item in schema.raw_schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)


def _operator():
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("ops")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    return user


@pytest.mark.parametrize(
    "path",
    ["/api/v1/contacts/?q=+", "/api/v1/calls/?q=+&reason=+", "/api/v1/audit-events/?actor=+"],
)
def test_it_reads_a_search_of_only_spaces_as_no_filter(client_as, path):
    answer = client_as("admin").get(path)
    assert answer.status_code == 200, answer.content
