"""Hostile JSON over the API (issue 15): refused with a 4xx naming the field, nothing stored,
nothing sent to a vendor, and every list and detail page still answers afterwards."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from calls.models import Agent, Call
from calls.services import agents_sync
from campaigns.models import Campaign
from contacts.models import Contact
from tests.dashboard.json_attacks import SIX_MEGABYTES, TEXT_ATTACKS, VALUE_ATTACKS
from tests.factories import CallFactory, CampaignFactory, ContactFactory


def body_with(valid: dict, field: str, raw_value: str) -> str:
    return json.dumps({**valid, field: "__ATTACK__"}).replace('"__ATTACK__"', raw_value)


@pytest.fixture
def revrag(make_account):
    account = make_account("revrag")
    agents_sync(account=account)
    return account


def call_body(account) -> dict:
    agent = Agent.objects.filter(vendor_account=account).first()
    return {"vendor_account": account.pk, "agent": agent.pk, "to_number": "+14155550170"}


def campaign_body(account) -> dict:
    agent = Agent.objects.filter(vendor_account=account).first()
    return {"name": "Renewals", "vendor_account": account.pk, "agent": agent.pk, "contacts": []}


def assert_refused(response, field: str | None, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    if field is not None:
        assert field in error["fields"], error
        assert error["fields"][field][0]
    assert error["message"]
    return error


def assert_pages_answer(client, *urls: str) -> None:
    for url in urls:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("field", ["variables", "metadata"])
@pytest.mark.parametrize("attack", sorted(VALUE_ATTACKS))
def test_it_refuses_a_hostile_call_field_and_calls_nobody(
    client_as, revrag, sandbox, django_capture_on_commit_callbacks, field, attack
):
    existing = CallFactory(vendor_account=revrag)
    client = client_as("operator")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api_calls"),
            body_with(call_body(revrag), field, VALUE_ATTACKS[attack]),
            content_type="application/json",
        )
    assert_refused(response, field)
    assert list(Call.objects.values_list("pk", flat=True)) == [existing.pk]
    assert sandbox.log("revrag", method="POST") == []
    assert_pages_answer(
        client,
        reverse("api_calls"),
        reverse("api_call", kwargs={"pk": existing.pk}),
        reverse("calls:list"),
        reverse("calls:detail", kwargs={"pk": existing.pk}),
    )


@pytest.mark.parametrize("attack", sorted(TEXT_ATTACKS))
def test_it_refuses_a_hostile_number_to_call(
    client_as, revrag, sandbox, django_capture_on_commit_callbacks, attack
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("operator").post(
            reverse("api_calls"),
            body_with(call_body(revrag), "to_number", TEXT_ATTACKS[attack]),
            content_type="application/json",
        )
    assert_refused(response, "to_number")
    assert not Call.objects.exists()
    assert sandbox.log("revrag", method="POST") == []


@pytest.mark.parametrize(
    ("field", "attack"),
    [("metadata", name) for name in sorted(VALUE_ATTACKS)]
    + [("name", name) for name in sorted(TEXT_ATTACKS)],
)
def test_it_refuses_a_hostile_contact_field(client_as, field, attack):
    existing = ContactFactory()
    client = client_as("operator")
    raw = {**VALUE_ATTACKS, **TEXT_ATTACKS}[attack]
    response = client.post(
        reverse("contacts_api:list"),
        body_with({"phone": "+14155550123"}, field, raw),
        content_type="application/json",
    )
    assert_refused(response, field)
    assert list(Contact.objects.values_list("pk", flat=True)) == [existing.pk]
    assert_pages_answer(
        client,
        reverse("contacts_api:list"),
        reverse("contacts:list"),
        reverse("contacts:detail", kwargs={"pk": existing.pk}),
    )


@pytest.mark.parametrize(
    ("field", "attack"),
    [("variables_template", name) for name in sorted(VALUE_ATTACKS)]
    + [("retry_rules", "nesting_100000_deep"), ("retry_rules", "nul_in_a_key")]
    + [("name", name) for name in sorted(TEXT_ATTACKS)],
)
def test_it_refuses_a_hostile_campaign_field(client_as, revrag, field, attack):
    existing = CampaignFactory()
    client = client_as("operator")
    raw = {**VALUE_ATTACKS, **TEXT_ATTACKS}[attack]
    response = client.post(
        reverse("api_campaigns"),
        body_with(campaign_body(revrag), field, raw),
        content_type="application/json",
    )
    assert_refused(response, field)
    assert list(Campaign.objects.values_list("pk", flat=True)) == [existing.pk]
    assert_pages_answer(
        client,
        reverse("api_campaigns"),
        reverse("api_campaign", kwargs={"pk": existing.pk}),
        reverse("campaigns:list"),
        reverse("campaigns:detail", kwargs={"pk": existing.pk}),
    )


def test_it_answers_413_in_the_error_shape_to_a_six_megabyte_value(
    client_as, revrag, sandbox, django_capture_on_commit_callbacks
):
    body = {**call_body(revrag), "variables": {"notes": "x" * SIX_MEGABYTES}}
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("operator").post(
            reverse("api_calls"), body, content_type="application/json"
        )
    error = assert_refused(response, None, status=413)
    assert error["code"] == "too_large"
    assert f"{2 * 1024 * 1024:,} bytes" in error["message"]
    assert not Call.objects.exists()
    assert sandbox.log("revrag", method="POST") == []


def test_it_follows_the_body_size_setting(client_as, settings):
    settings.CALLOPS_JSON_MAX_BODY_BYTES = 200
    client = client_as("operator")
    small = client.post(
        reverse("contacts_api:list"), {"phone": "+14155550124"}, content_type="application/json"
    )
    large = client.post(
        reverse("contacts_api:list"),
        {"phone": "+14155550125", "name": "x" * 200},
        content_type="application/json",
    )
    assert small.status_code == 201
    assert_refused(large, None, status=413)
    assert Contact.objects.count() == 1


def test_it_bounds_a_form_encoded_api_body_too(client_as, settings):
    settings.CALLOPS_JSON_MAX_BODY_BYTES = 200
    response = client_as("operator").post(
        reverse("contacts_api:list"),
        f"phone=%2B14155550126&name={'x' * 300}",
        content_type="application/x-www-form-urlencoded",
    )
    assert_refused(response, None, status=413)
    assert not Contact.objects.exists()


def test_it_answers_413_when_django_refuses_the_form_fields_of_an_upload(client_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_as("operator").post(
        reverse("contacts_api:import"),
        {
            "file": SimpleUploadedFile("contacts.csv", b"phone\n+14155550127\n"),
            "mapping": "x" * 2000,
        },
    )
    error = assert_refused(response, None, status=413)
    assert error["code"] == "too_large"


def test_it_names_the_field_of_a_bad_import_mapping_too_deep_to_parse(client_as):
    response = client_as("operator").post(
        reverse("contacts_api:import"),
        {
            "file": SimpleUploadedFile("contacts.csv", b"phone\n+14155550128\n"),
            "mapping": "[" * 100_000 + "]" * 100_000,
        },
    )
    assert_refused(response, "mapping")


def test_it_still_takes_ordinary_json_with_emoji_and_nesting(client_as):
    metadata = {"note": "café 😀", "deep": {"a": [{"b": [1, 2.5, None, True]}]}}
    response = client_as("operator").post(
        reverse("contacts_api:list"),
        {"phone": "+14155550129", "metadata": metadata},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert Contact.objects.get().metadata == metadata


def test_it_documents_the_limits_and_the_413_in_the_schema(client_as):
    schema = client_as("operator").get(reverse("api_schema"), {"format": "json"}).json()
    assert "at most 2,097,152 bytes" in schema["info"]["description"]
    assert "nested at most 32 levels" in schema["info"]["description"]
    create = schema["paths"]["/api/v1/calls/"]["post"]
    assert "413" in create["responses"]
    assert "413" not in schema["paths"]["/api/v1/calls/"]["get"]["responses"]


@pytest.mark.parametrize("body", ["[" * 100_000, '{"metadata": ' + "[" * 100_000 + "}" * 100_000])
def test_it_answers_400_to_a_broken_body_nested_too_deep(client_as, body):
    response = client_as("operator").post(
        reverse("contacts_api:list"), body, content_type="application/json"
    )
    assert_refused(response, None)
    assert not Contact.objects.exists()
