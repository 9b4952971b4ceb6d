"""Reads of contacts, the do-not-call list and imports, for pages, the API and other apps."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connection
from django.db.models import BinaryField, Count, Exists, F, Func, OuterRef, Q, QuerySet, Value

from contacts.db import bulk_cursor, on_postgres
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportMember,
    ContactImportRejection,
    ContactImportUpdate,
    ContactList,
    ContactListMember,
    DoNotCallEntry,
    ImportStatus,
)

_DNC_CHUNK = 5000
_PHONE_LIKE = re.compile(r"[\d\s()+./-]+")


def _phone_digits(search: str) -> str:
    """A search typed like a number, "(415) 555-2671", matches the stored "+14155552671"."""
    if _PHONE_LIKE.fullmatch(search) and any(ch.isdigit() for ch in search):
        return "".join(ch for ch in search if ch.isdigit())
    return search


def contact_list(
    *,
    search: str = "",
    has_email: bool | None = None,
    time_zone: str = "",
    on_do_not_call: bool | None = None,
    list_id: int | None = None,
    import_id: int | None = None,
) -> QuerySet[Contact]:
    """Contacts matching the search (name, number or email) and filters, each with `on_dnc`:
    in a list, or in the file of an import."""
    contacts = Contact.objects.annotate(
        on_dnc=Exists(DoNotCallEntry.objects.filter(phone_e164=OuterRef("phone_e164")))
    )
    if search:
        query = Q(name__icontains=search) | Q(email__icontains=search)
        query |= Q(phone_e164__contains=_phone_digits(search))
        contacts = contacts.filter(query)
    if has_email is True:
        contacts = contacts.exclude(email="")
    elif has_email is False:
        contacts = contacts.filter(email="")
    if time_zone:
        contacts = contacts.filter(time_zone="" if time_zone == "-" else time_zone)
    if on_do_not_call is not None:
        contacts = contacts.filter(on_dnc=on_do_not_call)
    if list_id is not None:
        contacts = contacts.filter(
            Exists(
                ContactListMember.objects.filter(contact_list_id=list_id, contact=OuterRef("pk"))
            )
        )
    if import_id is not None:
        contacts = contacts.filter(
            Exists(
                ContactImportMember.objects.filter(
                    contact_import_id=import_id, contact=OuterRef("pk")
                )
            )
        )
    return contacts


def contact_lists() -> QuerySet[ContactList]:
    """Every list, by name, for pickers and filters."""
    return ContactList.objects.order_by("name", "id")


def contact_lists_with_counts() -> QuerySet[ContactList]:
    return contact_lists().annotate(member_count=Count("members"))


def contact_list_get(*, pk: int) -> ContactList:
    return ContactList.objects.get(pk=pk)


def contact_lists_of(*, contact: Contact) -> list[ContactList]:
    return list(ContactList.objects.filter(members__contact=contact).order_by("name", "id"))


def finished_imports(*, limit: int = 200) -> QuerySet[ContactImport]:
    """Imports that stored contacts, newest first, for the "imported file" pickers."""
    return (
        ContactImport.objects.filter(status=ImportStatus.DONE)
        .only("id", "file_name", "created_at", "total_rows")
        .order_by("-id")[:limit]
    )


def contact_time_zones() -> list[str]:
    """The time zones contacts have, for the filter."""
    return list(
        Contact.objects.exclude(time_zone="")
        .order_by("time_zone")
        .values_list("time_zone", flat=True)
        .distinct()
    )


def contact_get(*, pk: int) -> Contact:
    return contact_list().get(pk=pk)


def contact_recent_calls(*, contact: Contact, limit: int = 20) -> list:
    return list(contact.calls.select_related("agent").order_by("-created_at", "-id")[:limit])


def contact_callbacks(*, contact: Contact, limit: int = 20) -> list:
    """Callbacks the contact asked for (booked by calls/callbacks.py), the newest first."""
    return list(contact.callbacks.select_related("campaign").order_by("-created_at", "-id")[:limit])


def is_on_do_not_call(phone_e164: str) -> bool:
    """True when callops must not dial this E.164 number."""
    return DoNotCallEntry.objects.filter(phone_e164=phone_e164).exists()


def do_not_call_numbers(phones: Iterable[str]) -> set[str]:
    """Which of these E.164 numbers are on the do-not-call list (one query per 5,000)."""
    wanted = list(dict.fromkeys(phones))
    found: set[str] = set()
    for start in range(0, len(wanted), _DNC_CHUNK):
        chunk = wanted[start : start + _DNC_CHUNK]
        found.update(
            DoNotCallEntry.objects.filter(phone_e164__in=chunk).values_list("phone_e164", flat=True)
        )
    return found


def do_not_call_phones() -> QuerySet[DoNotCallEntry]:
    """Every number on the do-not-call list, as a subquery for `phone_e164__in`."""
    return DoNotCallEntry.objects.values("phone_e164")


def do_not_call_entry(phone_e164: str) -> DoNotCallEntry | None:
    return DoNotCallEntry.objects.filter(phone_e164=phone_e164).select_related("added_by").first()


def do_not_call_list(*, search: str = "") -> QuerySet[DoNotCallEntry]:
    entries = DoNotCallEntry.objects.select_related("added_by")
    if search:
        entries = entries.filter(
            Q(phone_e164__contains=_phone_digits(search)) | Q(reason__icontains=search)
        )
    return entries


def contact_import_list(*, limit: int = 20) -> list[ContactImport]:
    # Never load the uploaded files for a list.
    return list(ContactImport.objects.defer("data").select_related("created_by")[:limit])


def contact_import_get(*, pk: int, columns: bool = True) -> ContactImport:
    """An import without its file; columns=False leaves its headers and mapping unread too
    (an import stored before the column limit may name 200,000 columns): they are read when
    first used."""
    deferred = ("data",) if columns else ("data", "headers", "mapping")
    return ContactImport.objects.defer(*deferred).select_related("created_by").get(pk=pk)


def contact_import_file(*, pk: int, head: int | None = None) -> bytes:
    """The uploaded file of an import, or its first `head` bytes (enough for a preview).

    On PostgreSQL it is read in binary: Django's cursor asks for bytea as hex text, which
    doubles what travels and costs ~0.4 s to decode for a 58 MB file.
    """
    if not on_postgres():
        imports = ContactImport.objects.filter(pk=pk)
        if head is not None:
            # substr() counts bytes in a blob: the head is cut in SQLite, not after loading.
            part = Func(
                F("data"), Value(1), Value(head), function="substr", output_field=BinaryField()
            )
            imports = imports.annotate(part=part).values_list("part", flat=True)
            return bytes(imports.get())
        return bytes(imports.values_list("data", flat=True).get())
    table = connection.ops.quote_name(ContactImport._meta.db_table)
    column = "data" if head is None else "substring(data from 1 for %s)"
    params = [pk] if head is None else [head, pk]
    with bulk_cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} WHERE id = %s",  # noqa: S608 - model name
            params,
            binary=True,
            prepare=False,  # as Django's own queries: no prepared statement behind a pooler
        )
        row = cursor.fetchone()
    if row is None:
        raise ContactImport.DoesNotExist
    return bytes(row[0])


def contact_import_rejections(*, contact_import: ContactImport) -> QuerySet[ContactImportRejection]:
    return contact_import.rejections.order_by("line_number", "id")


def contact_import_updates(*, contact_import: ContactImport) -> QuerySet[ContactImportUpdate]:
    return contact_import.updates.order_by("phone_e164", "id")


# A metadata key a template can name ({{ contact.metadata.KEY }}): see calls.templating.
_NAMEABLE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def contact_metadata_keys(*, imports: int = 50, contacts: int = 500) -> list[str]:
    """The extra-data keys contacts have, for pickers: the columns recent imports kept as
    metadata and the keys of the newest contacts (not a scan of every contact). Only keys a
    template can name are listed."""
    keys: set[str] = set()
    recent_imports = (
        ContactImport.objects.filter(status=ImportStatus.DONE)
        .order_by("-id")
        .values_list("headers", "mapping")[:imports]
    )
    for headers, mapping in recent_imports:
        for index, target in enumerate(mapping or []):
            if target == "metadata" and index < len(headers or []):
                keys.add(headers[index] or f"column {index + 1}")
    recent = Contact.objects.order_by("-id").values_list("metadata", flat=True)[:contacts]
    for metadata in recent:
        if isinstance(metadata, dict):
            keys.update(key for key in metadata if isinstance(key, str))
    return sorted(key for key in keys if _NAMEABLE_KEY.fullmatch(key))
