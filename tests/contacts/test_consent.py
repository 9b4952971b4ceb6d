"""Consent records: what the service stores and refuses, which records count as valid, and the
contact page and API that edit them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts import consent
from contacts.models import ConsentRecord, ConsentType
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _values(**changes):
    base = {
        "consent_type": ConsentType.WRITTEN,
        "given_at": timezone.now() - timedelta(days=1),
        "evidence": "Signed web form",
    }
    return consent.ConsentValues(**{**base, **changes})


def test_it_counts_a_record_valid_only_between_given_and_expiry():
    contact = ContactFactory()
    now = timezone.now()
    consent.consent_add(
        contact=contact,
        values=_values(expires_at=now + timedelta(days=30), given_at=now - timedelta(days=2)),
    )
    written = ConsentType.WRITTEN
    assert contact.pk in consent.valid_consents([contact.pk], consent_type=written, at=now)
    later = now + timedelta(days=31)
    assert not consent.valid_consents([contact.pk], consent_type=written, at=later)
    before = now - timedelta(days=3)
    assert not consent.valid_consents([contact.pk], consent_type=written, at=before)
    assert not consent.valid_consents([contact.pk], consent_type=ConsentType.VERBAL, at=now)
    assert consent.consent_refusal(contact.pk, consent_type=written, at=later) == (
        "No valid written consent"
    )
    assert consent.consent_refusal(contact.pk, consent_type="", at=later) == ""


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expires_at": timezone.now() - timedelta(days=2)}, "expires_at"),
        ({"given_at": timezone.now() + timedelta(days=1)}, "given_at"),
        ({"consent_type": ConsentType.IMPORTED, "source": ""}, "source"),
        ({"consent_type": ConsentType.VERBAL, "evidence": ""}, "call_id"),
        ({"evidence": ""}, "evidence"),
        ({"consent_type": "shouted"}, "consent_type"),
    ],
)
def test_it_refuses_consent_it_could_not_show_and_stores_nothing(changes, field):
    with pytest.raises(consent.ConsentError) as refused:
        consent.consent_add(contact=ContactFactory(), values=_values(**changes))
    assert refused.value.field == field
    assert not ConsentRecord.objects.exists()


def test_it_lets_an_operator_add_change_and_delete_consent_on_the_contact_page(client_as):
    contact = ContactFactory()
    operator = client_as("operator")
    page = f"/contacts/{contact.pk}/"
    assert "No consent recorded" in operator.get(page).content.decode()
    added = operator.post(
        f"/contacts/{contact.pk}/consent/new/",
        {"consent_type": "verbal", "given_at": "2026-01-05T10:30", "call_id": "77"},
    )
    assert added.status_code == 302
    record = ConsentRecord.objects.get()
    assert (record.consent_type, record.call_id) == ("verbal", 77)
    assert record.added_by.username == "olivia"
    shown = operator.get(page).content.decode()
    assert "Verbal, on a call" in shown and "call 77" in shown
    bad = operator.post(
        f"/contacts/{contact.pk}/consent/{record.pk}/",
        {
            "consent_type": "verbal",
            "given_at": "2026-01-05T10:30",
            "expires_at": "2025-01-01T00:00",
            "call_id": "77",
        },
    )
    assert bad.status_code == 400 and "must be after" in bad.content.decode()
    record.refresh_from_db()
    assert record.expires_at is None
    confirm = operator.get(f"/contacts/{contact.pk}/consent/{record.pk}/delete/")
    assert confirm.status_code == 200 and ConsentRecord.objects.exists()
    operator.post(f"/contacts/{contact.pk}/consent/{record.pk}/delete/")
    assert not ConsentRecord.objects.exists()


def test_it_lets_managers_read_consent_but_not_change_it(client_as):
    contact = ContactFactory()
    consent.consent_add(contact=contact, values=_values())
    manager = client_as("manager")
    assert "Signed web form" in manager.get(f"/contacts/{contact.pk}/").content.decode()
    new = manager.post(
        f"/contacts/{contact.pk}/consent/new/",
        {"consent_type": "written", "given_at": "2026-01-05T10:30", "evidence": "x"},
    )
    assert new.status_code == 403 and ConsentRecord.objects.count() == 1


def test_it_reads_adds_and_deletes_consent_over_the_api(client_as):
    contact = ContactFactory()
    url = f"/api/v1/contacts/{contact.pk}/consents"
    operator = client_as("operator")
    added = operator.post(
        url,
        {
            "consent_type": "imported",
            "given_at": "2026-02-01T09:00:00Z",
            "expires_at": "2027-02-01T09:00:00Z",
            "source": "CRM export",
        },
        content_type="application/json",
    )
    assert added.status_code == 201, added.content
    body = added.json()
    assert (body["consent_type"], body["source"], body["added_by"]) == (
        "imported",
        "CRM export",
        "olivia",
    )
    listed = client_as("manager").get(url).json()
    assert [row["id"] for row in listed] == [body["id"]]
    refused = operator.post(
        url,
        {"consent_type": "imported", "given_at": "2026-02-01T09:00:00Z"},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "source" in refused.json()["error"]["fields"]
    assert client_as("manager").delete(f"{url}/{body['id']}").status_code == 403
    assert operator.delete(f"{url}/{body['id']}").status_code == 204
    assert not ConsentRecord.objects.exists()


def test_it_imports_consent_columns_and_rejects_rows_whose_consent_cannot_be_read():
    from tests.contacts.test_import_service import csv_bytes, run_import

    data = csv_bytes(
        "phone,name,Consent,Consent date,Consent source,Consent expiry",
        "+14155550101,Ann,written,2026-01-10,Signed form 12,2027-01-31",
        "+14155550102,Ben,,2026-02-01,CRM export,",
        "+14155550103,Cy,,,,",
        "+14155550104,Dee,shouted,2026-01-10,,",
        "+14155550105,Eve,written,2026-03-01,,2026-02-01",
    )
    done = run_import(data)

    assert done.mapping == [
        "phone",
        "name",
        "consent_type",
        "consent_date",
        "consent_evidence",
        "consent_expiry",
    ]
    assert (done.created_count, done.rejected_count) == (3, 2)
    reasons = sorted(done.rejections.values_list("line_number", "reason"))
    assert reasons == [
        (5, "consent_type: “shouted” is not written, verbal or imported"),
        (6, "consent_expiry: not after the consent date"),
    ]
    records = {r.contact.name: r for r in ConsentRecord.objects.select_related("contact")}
    assert set(records) == {"Ann", "Ben"}
    ann, ben = records["Ann"], records["Ben"]
    assert (ann.consent_type, ann.evidence, ann.evidence_file) == (
        "written",
        "Signed form 12",
        "c.csv, line 2",
    )
    assert timezone.localtime(ann.expires_at).date().isoformat() == "2027-02-01"  # holds the 31st
    assert (ben.consent_type, ben.source, ben.expires_at) == ("imported", "CRM export", None)
    # The same file again records nothing twice.
    run_import(data)
    assert ConsentRecord.objects.count() == 2
