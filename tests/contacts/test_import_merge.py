"""Issue 16: a stored contact is filled (default), overwritten or skipped, the same on SQLite
and PostgreSQL, with counts and a download of what changed."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact, ContactImport, ImportStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

FILE = (
    "name,phone,email,zone,team\n"
    "Ada New,(415) 555-2671,ada@new.example,,red\n"  # stored with a name, no email
    ",415 555 2672,,,\n"  # stored, the row gives nothing
    "\n"
    "Cy,415 555 2673,cy@example.com,Asia/Tokyo,\n"  # new
    ",,,,\n"
    "Cy again,415 555 2673,other@example.com,,blue\n"  # repeated in the file
    "Bad,12,,,\n"
)


def store_contacts() -> None:
    ContactFactory(
        phone_e164="+14155552671",
        name="Ada",
        email="",
        time_zone="Europe/Paris",
        metadata={"team": "green"},
    )
    ContactFactory(phone_e164="+14155552672", name="Bob", email="bob@example.com")


def import_over_http(client, duplicates: str | None, capture) -> ContactImport:
    upload = SimpleUploadedFile("list.csv", FILE.encode(), content_type="text/csv")
    client.post(reverse("contacts:import"), {"file": upload})
    created = ContactImport.objects.get()
    form = {
        "column_0": "name",
        "column_1": "phone",
        "column_2": "email",
        "column_3": "time_zone",
        "column_4": "metadata",
    }
    # The page's radio buttons start on fill: a browser posts it unless another is chosen.
    page = client.get(reverse("contacts:import_detail", args=[created.pk])).content.decode()
    assert 'value="fill" ' in page and "checked" in page.split('value="fill"')[1][:80]
    form["duplicates"] = duplicates or "fill"
    with capture(execute=True):
        client.post(reverse("contacts:import_detail", args=[created.pk]), form)
    created.refresh_from_db()
    assert created.status == ImportStatus.DONE, created.error_message
    return created


def contacts() -> dict[str, tuple]:
    return {
        c.phone_e164: (c.name, c.email, c.time_zone, c.metadata)
        for c in Contact.objects.order_by("phone_e164")
    }


def counts(done: ContactImport) -> tuple[int, ...]:
    return (
        done.created_count,
        done.updated_count,
        done.unchanged_count,
        done.repeated_count,
        done.rejected_count,
        done.blank_row_count,
    )


def test_it_fills_only_empty_fields_by_default(
    client_as, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    store_contacts()
    done = import_over_http(client_as("operator"), None, django_capture_on_commit_callbacks)
    assert done.duplicates == "fill"
    assert contacts()["+14155552671"] == (
        "Ada",  # kept
        "ada@new.example",  # filled
        "Europe/Paris",
        {"team": "green"},  # a stored key is kept
    )
    assert contacts()["+14155552672"][:2] == ("Bob", "bob@example.com")
    # Cy: the first row's values win over the repeated row's, which only fills.
    assert contacts()["+14155552673"] == ("Cy", "cy@example.com", "Asia/Tokyo", {"team": "blue"})
    assert counts(done) == (1, 1, 1, 1, 1, 2)
    assert list(done.updates.values_list("phone_e164", "changes")) == [
        ("+14155552671", {"email": ["", "ada@new.example"]})
    ]


def test_it_overwrites_stored_values_only_when_asked(
    client_as, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    store_contacts()
    done = import_over_http(client_as("operator"), "overwrite", django_capture_on_commit_callbacks)
    assert contacts()["+14155552671"] == (
        "Ada New",
        "ada@new.example",
        "Europe/Paris",  # an empty cell never erases
        {"team": "red"},
    )
    assert contacts()["+14155552672"][:2] == ("Bob", "bob@example.com")
    assert contacts()["+14155552673"] == (
        "Cy again",
        "other@example.com",
        "Asia/Tokyo",
        {"team": "blue"},
    )
    assert counts(done) == (1, 1, 1, 1, 1, 2)
    (update,) = done.updates.all()
    assert update.changes == {
        "name": ["Ada", "Ada New"],
        "email": ["", "ada@new.example"],
        "metadata": [{"team": "green"}, {"team": "red"}],
    }


def test_it_leaves_stored_contacts_alone_with_skip(
    client_as, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    store_contacts()
    before = contacts()
    stamps = dict(Contact.objects.values_list("phone_e164", "updated_at"))
    done = import_over_http(client_as("operator"), "skip", django_capture_on_commit_callbacks)
    after = contacts()
    assert {k: after[k] for k in before} == before
    assert after["+14155552673"] == ("Cy", "cy@example.com", "Asia/Tokyo", {})
    assert counts(done) == (1, 0, 2, 1, 1, 2)
    assert not done.updates.exists()
    assert (
        dict(Contact.objects.filter(phone_e164__in=stamps).values_list("phone_e164", "updated_at"))
        == stamps
    )


def test_it_keeps_an_unchanged_contact_s_updated_at(
    client_as, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    store_contacts()
    bob = Contact.objects.get(phone_e164="+14155552672")
    import_over_http(client_as("operator"), "fill", django_capture_on_commit_callbacks)
    assert Contact.objects.get(pk=bob.pk).updated_at == bob.updated_at


def test_it_offers_the_changes_as_a_guarded_csv_download(
    client_as, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    ContactFactory(phone_e164="+14155552671", name="", email="", time_zone="Europe/Paris")
    ContactFactory(phone_e164="+14155552672", name="Bob", email="", time_zone="Europe/Paris")
    client = client_as("operator")
    upload = SimpleUploadedFile(
        "list.csv",
        b'name,phone\n=HYPERLINK("http://x"),415 555 2671\nBob,415 555 2672\n',
        content_type="text/csv",
    )
    client.post(reverse("contacts:import"), {"file": upload})
    created = ContactImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("contacts:import_detail", args=[created.pk]),
            {"column_0": "name", "column_1": "phone", "duplicates": "fill"},
        )
    page = client.get(reverse("contacts:import_detail", args=[created.pk])).content.decode()
    assert 'data-count="updated">1<' in page and 'data-count="unchanged">1<' in page
    assert reverse("contacts:import_updates", args=[created.pk]) in page
    response = client.get(reverse("contacts:import_updates", args=[created.pk]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["phone", "field", "old value", "new value"],
        ["+14155552671", "name", "", '\'=HYPERLINK("http://x")'],
    ]
    anonymous = client_as("anonymous").get(reverse("contacts:import_updates", args=[created.pk]))
    assert anonymous.status_code in (302, 403)


def test_it_reports_the_counts_in_the_api_and_takes_merge_as_fill(
    client_as, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    store_contacts()
    client = client_as("operator")
    upload = SimpleUploadedFile("list.csv", FILE.encode(), content_type="text/csv")
    mapping = {"name": "name", "phone": "phone", "email": "email", "zone": "time_zone"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/contacts/import",
            {"file": upload, "mapping": json.dumps(mapping), "duplicates": "merge"},
        )
    assert response.status_code == 202
    status = client.get(response.json()["status_url"]).json()
    assert status["duplicates"] == "fill"
    got = {k: status[k] for k in ("created", "updated", "unchanged", "repeated", "blank_rows")}
    assert got == {"created": 1, "updated": 1, "unchanged": 1, "repeated": 1, "blank_rows": 2}
    assert Contact.objects.get(phone_e164="+14155552671").name == "Ada"


def test_it_refuses_an_unknown_choice_with_a_400_and_stores_nothing(client_as):
    client = client_as("operator")
    upload = SimpleUploadedFile("list.csv", FILE.encode(), content_type="text/csv")
    response = client.post("/api/v1/contacts/import", {"file": upload, "duplicates": "replace"})
    assert response.status_code == 400
    assert not ContactImport.objects.exists()
