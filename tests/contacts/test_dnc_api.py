"""The do-not-call list over the API: read by all, added to by editors (source "API"),
removed only by admins with a reason, every change audited."""

from __future__ import annotations

import pytest

from accounts.models import AuditAction, AuditEvent
from contacts.models import DoNotCallEntry, OptOutSource

pytestmark = pytest.mark.django_db

URL = "/api/v1/do-not-call/"


def test_it_lists_a_number_once_with_its_source_and_reads_it_back(client_as):
    operator = client_as("operator")
    added = operator.post(URL, {"phone": "(415) 555-2671", "reason": "Asked by email"})
    assert added.status_code == 201
    body = added.json()
    assert (body["phone_e164"], body["source"], body["added_by"]) == (
        "+14155552671",
        OptOutSource.API,
        "olivia",
    )
    again = operator.post(URL, {"phone": "+1 415 555 2671", "reason": "other"})
    assert again.status_code == 200 and again.json()["reason"] == "Asked by email"
    listed = client_as("manager").get(URL, {"q": "2671"}).json()["results"]
    assert [entry["phone_e164"] for entry in listed] == ["+14155552671"]
    assert AuditEvent.objects.filter(action=AuditAction.DNC_ADDED).count() == 1
    bad = operator.post(URL, {"phone": "12"})
    assert bad.status_code == 400 and "phone" in bad.json()["error"]["fields"]
    assert client_as("manager").post(URL, {"phone": "+14155552672"}).status_code == 403


def test_only_an_admin_removes_a_number_and_only_with_a_reason(client_as):
    entry = DoNotCallEntry.objects.create(phone_e164="+14155552671", source="transcript")
    remove = f"{URL}{entry.pk}/remove"
    assert client_as("operator").post(remove, {"reason": "x"}).status_code == 403
    admin = client_as("admin")
    missing = admin.post(remove, {})
    assert missing.status_code == 400 and DoNotCallEntry.objects.exists()
    assert admin.post(remove, {"reason": "Consent on file"}).status_code == 204
    assert not DoNotCallEntry.objects.exists()
    audit = AuditEvent.objects.get(action=AuditAction.DNC_REMOVED)
    assert audit.detail["removal_reason"] == "Consent on file"
    assert audit.detail["source"] == "transcript"
    assert admin.post(remove, {"reason": "again"}).status_code == 404
