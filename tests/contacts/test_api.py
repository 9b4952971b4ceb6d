from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact, ContactImport, ImportStatus

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.api_urls")]


def csv_file(text: str, name: str = "c.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_it_accepts_an_import_and_reports_its_status(
    client_as, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    client = client_as("operator")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/contacts/import",
            {
                "file": csv_file("Who,Tel\nAda,(415) 555-2671\nAda again,415 555 2671\n"),
                "mapping": json.dumps({"Who": "name", "Tel": "phone"}),
                "duplicates": "skip",
            },
        )
    assert response.status_code == 202
    body = response.json()
    assert body["status_url"].endswith(f"/api/v1/contacts/imports/{body['id']}")
    status = client.get(body["status_url"]).json()
    assert status["status"] == ImportStatus.DONE
    assert (status["created"], status["repeated"], status["total_rows"]) == (1, 1, 2)
    assert Contact.objects.get().name == "Ada"


def test_it_guesses_the_mapping_when_none_is_given(client_as):
    response = client_as("admin").post(
        "/api/v1/contacts/import", {"file": csv_file("name,phone\nAda,4155552671\n")}
    )
    assert response.status_code == 202
    created = ContactImport.objects.get()
    assert (created.status, created.mapping) == (ImportStatus.PENDING, ["name", "phone"])


@pytest.mark.parametrize(
    ("data", "code", "detail"),
    [
        ({}, "invalid", {"file": ["No file was submitted."]}),
        ({"file": "name,phone\n"}, "invalid_file", "The file has a header row but no data rows."),
        ({"file": "name,email\nAda,a@example.com\n"}, "invalid_mapping", "No phone column"),
        (
            {"file": "name,phone\nAda,1\n", "mapping": "[1]"},
            "invalid",
            {"mapping": ['Give a JSON object {"column header": "field"}.']},
        ),
        (
            {"file": "name,phone\nAda,1\n", "mapping": '{"Tel": "phone"}'},
            "invalid_mapping",
            "No column named “Tel”",
        ),
        (
            {"file": "name,phone\nAda,1\n", "duplicates": "replace"},
            "invalid",
            {"duplicates": ['"replace" is not a valid choice.']},
        ),
    ],
)
def test_it_refuses_bad_requests_with_a_reason(client_as, data, code, detail):
    if "file" in data:
        data = {**data, "file": csv_file(data["file"])}
    response = client_as("operator").post("/api/v1/contacts/import", data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    if isinstance(detail, dict):
        assert error["fields"] == detail
    else:
        assert detail in error["message"]
    assert not ContactImport.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("anonymous", 401), ("manager", 403)])
def test_it_refuses_roles_that_cannot_edit_contacts(client_as, role, status):
    client = client_as(role)
    response = client.post("/api/v1/contacts/import", {"file": csv_file("phone\n4155552671\n")})
    assert response.status_code == status
    assert client.get("/api/v1/contacts/imports/1").status_code == status
    assert not ContactImport.objects.exists()


def test_it_declares_its_capability_for_the_role_matrix():
    from accounts.roles import Capability
    from contacts import api

    assert api.import_contacts.required_capability == Capability.EDIT_CONTACTS
    assert api.import_status.required_capability == Capability.EDIT_CONTACTS
    assert reverse("contacts_api:import") == "/api/v1/contacts/import"


def test_it_lists_and_creates_contacts_with_the_phone_checked(client_as):
    from django.urls import reverse as url

    operator = client_as("operator")
    created = operator.post(
        url("contacts_api:list"),
        {"phone": "(415) 555-2671", "name": "Ada"},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["phone_e164"] == "+14155552671"
    assert created.json()["time_zone"] == "America/Los_Angeles"
    again = operator.post(
        url("contacts_api:list"), {"phone": "+14155552671"}, content_type="application/json"
    )
    assert again.status_code == 409
    bad = operator.post(url("contacts_api:list"), {"phone": "12"}, content_type="application/json")
    assert "cannot be used" in bad.json()["error"]["fields"]["phone"][0]
    listed = client_as("manager").get(url("contacts_api:list") + "?q=Ada").json()
    assert [contact["name"] for contact in listed["results"]] == ["Ada"]
    forbidden = client_as("manager").post(
        url("contacts_api:list"), {"phone": "+14155552672"}, content_type="application/json"
    )
    assert forbidden.status_code == 403
