"""Lists (tags) and the contacts of an imported file: filled by imports and by hand, used as
filters on the contacts page, in the API and as a campaign's audience."""

from __future__ import annotations

import io

import pytest

from contacts import import_postgres, selectors, services
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportMember,
    ContactList,
    ContactListMember,
)
from tests.contacts.test_import_service import csv_bytes
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def run_import(data: bytes, *, duplicates: str = "fill", list_name: str = "") -> ContactImport:
    created = services.contact_import_create(file=io.BytesIO(data), file_name="leads.csv")
    services.contact_import_start(
        contact_import=created,
        mapping=created.mapping,
        duplicates=duplicates,
        list_name=list_name,
    )
    services.contact_import_run(import_id=created.pk)
    return ContactImport.objects.get(pk=created.pk)


def phones(queryset) -> set[str]:
    return set(queryset.values_list("phone_e164", flat=True))


@pytest.mark.parametrize("duplicates", ["fill", "overwrite", "skip"])
def test_it_remembers_every_contact_of_a_file_and_puts_it_in_the_named_list(
    duplicates, monkeypatch
):
    # Small staged batches, so PostgreSQL writes the members batch by batch.
    monkeypatch.setattr(import_postgres, "STAGED_WRITE_ROWS", 3)
    unchanged = ContactFactory(phone_e164="+14155552001", name="Ann")
    outsider = ContactFactory(phone_e164="+14155559999", name="Not in the file")
    existing = ContactList.objects.create(name="Q4 leads")
    ContactListMember.objects.create(contact_list=existing, contact=unchanged)
    lines = [f"P{i},+1415555{2000 + i}" for i in range(1, 9)] + ["Again,+14155552003", "x,12"]
    done = run_import(csv_bytes("name,phone", *lines), duplicates=duplicates, list_name="q4 LEADS")
    assert done.status == "done" and done.contact_list == existing  # any case names the list
    in_file = {f"+1415555{2000 + i}" for i in range(1, 9)}
    assert phones(Contact.objects.filter(import_memberships__contact_import=done)) == in_file
    assert phones(Contact.objects.filter(list_memberships__contact_list=existing)) == in_file
    assert outsider.phone_e164 not in phones(Contact.objects.filter(list_memberships__isnull=False))


@pytest.mark.parametrize("duplicates", ["fill", "overwrite", "skip"])
def test_it_adds_the_members_a_chunks_statement_missed_without_doubling_any(
    duplicates, monkeypatch
):
    """A stored contact that a chunk's statement did not find (deleted and stored again by
    someone else meanwhile) is missing from the members it reports: the chunk's stored
    contacts are added again, each once."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes the members in one pass at the end")
    monkeypatch.setattr(import_postgres, "STAGED_WRITE_ROWS", 3)
    ann = ContactFactory(phone_e164="+14155552001", name="Ann")
    real_write_stored = import_postgres.PostgresRows._write_stored
    missed = []

    def write_stored(rows, cursor):
        members = real_write_stored(rows, cursor)
        # As if the statement had not seen Ann: her member rows go.
        for table in ("contacts_contactimportmember", "contacts_contactlistmember"):
            cursor.execute(f"DELETE FROM {table} WHERE contact_id = %s", [ann.pk])  # noqa: S608
        missed.append(members)
        return members - 1

    monkeypatch.setattr(import_postgres.PostgresRows, "_write_stored", write_stored)
    lines = [f"P{i},+1415555{2000 + i}" for i in range(1, 9)]
    done = run_import(csv_bytes("name,phone", *lines), duplicates=duplicates, list_name="Leads")
    assert done.status == "done" and missed == [1]
    in_file = {f"+1415555{2000 + i}" for i in range(1, 9)}
    assert phones(Contact.objects.filter(import_memberships__contact_import=done)) == in_file
    assert phones(Contact.objects.filter(list_memberships__contact_list=done.contact_list)) == (
        in_file
    )


def test_it_keeps_a_contact_in_each_file_that_holds_it_and_none_without_a_list_name():
    first = run_import(csv_bytes("name,phone", "A,+14155552001", "B,+14155552002"))
    second = run_import(csv_bytes("name,phone", "B,+14155552002", "C,+14155552003"))
    assert first.contact_list is None and not ContactList.objects.exists()
    assert phones(Contact.objects.filter(import_memberships__contact_import=first)) == {
        "+14155552001",
        "+14155552002",
    }
    assert phones(Contact.objects.filter(import_memberships__contact_import=second)) == {
        "+14155552002",
        "+14155552003",
    }


def test_it_refuses_an_overlong_list_name_and_starts_nothing():
    created = services.contact_import_create(
        file=io.BytesIO(csv_bytes("phone", "+14155552001")), file_name="a.csv"
    )
    with pytest.raises(services.ImportFileError, match="at most 100"):
        services.contact_import_start(
            contact_import=created, mapping=created.mapping, duplicates="fill", list_name="x" * 101
        )
    assert ContactImport.objects.get().status == "uploaded" and not ContactList.objects.exists()


def test_it_names_the_list_on_the_mapping_page_and_links_the_files_contacts(client_as):
    client = client_as("operator")
    upload = io.BytesIO(csv_bytes("name,phone", "Ann,+14155552001"))
    upload.name = "leads.csv"
    answer = client.post("/contacts/import/", {"file": upload})
    imp = ContactImport.objects.get()
    assert answer.status_code == 302
    page = client.get(f"/contacts/import/{imp.pk}/").content.decode()
    assert 'name="list_name"' in page and 'list="contact-list-names"' in page
    client.post(
        f"/contacts/import/{imp.pk}/",
        {"column_0": "name", "column_1": "phone", "duplicates": "fill", "list_name": "Webinar"},
    )
    services.contact_import_run(import_id=imp.pk)  # tasks do not run in tests
    done = client.get(f"/contacts/import/{imp.pk}/").content.decode()
    webinar = ContactList.objects.get(name="Webinar")
    assert f"?import={imp.pk}" in done and f"?list={webinar.pk}" in done
    listed = client.get("/contacts/", {"list": webinar.pk}).content.decode()
    assert "Ann" in listed
    ContactFactory(name="Bob Outside")
    by_file = client.get("/contacts/", {"import": imp.pk}).content.decode()
    assert "Ann" in by_file and "Bob Outside" not in by_file
    assert "Bob Outside" in client.get("/contacts/").content.decode()


def test_it_adds_and_removes_a_contact_from_lists_on_its_page(client_as):
    contact = ContactFactory(name="Ann")
    operator = client_as("operator")
    added = operator.post(f"/contacts/{contact.pk}/", {"name": "  VIP   callers "})
    assert added.status_code == 302
    vip = ContactList.objects.get()
    assert vip.name == "VIP callers" and vip.members.filter(contact=contact).exists()
    page = operator.get(f"/contacts/{contact.pk}/").content.decode()
    assert "VIP callers" in page and f"/lists/{vip.pk}/remove/" in page
    empty = operator.post(f"/contacts/{contact.pk}/", {"name": "   "})
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    # A manager reads lists but cannot change them; the page offers no form.
    manager = client_as("manager")
    assert manager.post(f"/contacts/{contact.pk}/", {"name": "Other"}).status_code == 403
    assert 'name="name"' not in manager.get(f"/contacts/{contact.pk}/").content.decode()
    assert manager.post(f"/contacts/{contact.pk}/lists/{vip.pk}/remove/").status_code == 403
    removed = operator.post(f"/contacts/{contact.pk}/lists/{vip.pk}/remove/")
    assert removed.status_code == 302 and not vip.members.exists()
    assert operator.get(f"/contacts/{contact.pk}/lists/{vip.pk}/remove/").status_code == 405


def test_it_pushes_exactly_the_contacts_the_list_filter_shows(client_as):
    from tests.factories import VendorAccountFactory
    from vendors.models import VendorKind

    VendorAccountFactory(kind=VendorKind.VOICE_PLATFORM)
    inside, outside = ContactFactory(name="Inside"), ContactFactory(name="Outside")
    vip = services.contact_list_add(contact=inside, name="VIP")
    page = client_as("operator").get("/contacts/", {"list": vip.pk}).content.decode()
    assert f"list={vip.pk}" in page  # "push everyone matching" carries the list
    confirm = client_as("operator").get("/contacts/push/", {"scope": "search", "list": vip.pk})
    assert confirm.status_code == 200 and "1 contact" in confirm.content.decode()
    assert outside.name not in confirm.content.decode()


def test_it_lists_lists_and_filters_contacts_by_list_and_file_in_the_api(client_as):
    ann, bob = ContactFactory(name="Ann"), ContactFactory(name="Bob")
    vip = services.contact_list_add(contact=ann, name="VIP")
    client = client_as("manager")
    lists = client.get("/api/v1/contacts/lists").json()
    assert lists["results"] == [
        {
            "id": vip.pk,
            "name": "VIP",
            "contacts": 1,
            "created_at": lists["results"][0]["created_at"],
        }
    ]
    names = [c["name"] for c in client.get("/api/v1/contacts/", {"list": vip.pk}).json()["results"]]
    assert names == ["Ann"]
    assert client.get("/api/v1/contacts/", {"import": 999}).json()["results"] == []
    bad = client.get("/api/v1/contacts/", {"list": "abc"})
    assert bad.status_code == 400 and "list" in bad.json()["error"]["fields"]
    assert bob.name not in str(client.get("/api/v1/contacts/", {"list": vip.pk}).json())


def test_it_takes_a_deleted_contact_out_of_its_files_and_lists():
    """The member tables' keys have no database constraint (an import's speed): deleting a
    contact, an import or a list still deletes the member rows that name it."""
    done = run_import(
        csv_bytes("name,phone", "Ann,+14155552001", "Bo,+14155552002"), list_name="Q4"
    )
    ann = Contact.objects.get(phone_e164="+14155552001")
    services.contact_delete(contact=ann)
    assert not ContactImportMember.objects.filter(contact_id=ann.pk).exists()
    assert not ContactListMember.objects.filter(contact_id=ann.pk).exists()
    assert ContactListMember.objects.filter(contact_list=done.contact_list).count() == 1
    done.contact_list.delete()
    assert not ContactListMember.objects.exists()
    done.delete()
    assert not ContactImportMember.objects.exists()
    assert Contact.objects.count() == 1


def test_it_shows_nothing_of_a_member_whose_contact_is_gone():
    """A contact deleted while an import that holds it ran can leave its member rows behind
    (no constraint stops that delete): no page, filter or audience sees them."""
    done = run_import(csv_bytes("name,phone", "Ann,+14155552001"), list_name="Q4")
    gone = Contact.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    ContactImportMember.objects.create(contact_import=done, contact_id=gone)
    ContactListMember.objects.create(contact_list=done.contact_list, contact_id=gone)
    in_file = {"+14155552001"}
    assert phones(selectors.contact_list(import_id=done.pk)) == in_file
    assert phones(selectors.contact_list(list_id=done.contact_list_id)) == in_file
