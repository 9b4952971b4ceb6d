"""Writes for contacts, the do-not-call list and CSV imports."""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from contacts.csv_import import (
    CsvFileError,
    Rejection,
    Row,
    RowChecker,
    check_mapping,
    decode,
    guess_mapping,
    iter_rows,
    read_file,
)
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportRejection,
    DoNotCallEntry,
    DuplicatePolicy,
    ImportStatus,
)
from contacts.phones import settings_region

logger = logging.getLogger(__name__)

ImportFileError = CsvFileError

# A run that the worker loses this many times (killed, out of memory) ends failed.
MAX_IMPORT_ATTEMPTS = 3
# Rows per INSERT; Django lowers it further on SQLite to stay under the variable limit.
WRITE_BATCH = 2000
# How often the validation phase publishes its progress (seconds).
PROGRESS_EVERY = 0.5
_CONTACT_FIELDS = ("name", "email", "linkedin_url", "time_zone", "metadata", "updated_at")


def max_import_bytes() -> int:
    return int(getattr(settings, "CALLOPS_CONTACT_IMPORT_MAX_BYTES", 200 * 1024 * 1024))


# --- Contacts -----------------------------------------------------------------------------------


def contact_create(
    *,
    phone_e164: str,
    name: str = "",
    email: str = "",
    linkedin_url: str = "",
    time_zone: str = "",
    metadata: dict[str, Any] | None = None,
) -> Contact:
    contact = Contact(
        phone_e164=phone_e164,
        name=name,
        email=email,
        linkedin_url=linkedin_url,
        time_zone=time_zone,
        metadata=metadata or {},
    )
    contact.full_clean()
    contact.save()
    return contact


def contact_update(*, contact: Contact, **changes: Any) -> Contact:
    allowed = {"phone_e164", "name", "email", "linkedin_url", "time_zone", "metadata"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"contact_update() cannot change {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(contact, name, value)
    contact.full_clean()
    contact.save(update_fields=[*changes, "updated_at"])
    return contact


def contact_delete(*, contact: Contact) -> None:
    # Calls keep their number (to_number) and lose only the link (on_delete=SET_NULL).
    contact.delete()


# --- Do-not-call list ---------------------------------------------------------------------------


@transaction.atomic
def do_not_call_add(
    *, phone_e164: str, reason: str = "", added_by: Any = None
) -> tuple[DoNotCallEntry, bool]:
    """Puts a number on the list; (entry, created). A number already listed keeps its entry."""
    return DoNotCallEntry.objects.get_or_create(
        phone_e164=phone_e164,
        defaults={"reason": reason[:200], "added_by": added_by},
    )


@transaction.atomic
def do_not_call_remove(*, entry: DoNotCallEntry) -> None:
    entry.delete()


# --- CSV import ---------------------------------------------------------------------------------


def contact_import_create(
    *, file: IO[bytes], file_name: str, size: int | None = None, created_by: Any = None
) -> ContactImport:
    """Checks an upload as a whole and stores it, waiting for its column mapping.

    Raises ImportFileError (too large, not UTF-8, no rows, ...) and stores nothing then.
    """
    limit = max_import_bytes()
    if size is not None and size > limit:
        raise ImportFileError(_too_large(size, limit))
    data = file.read(limit + 1)
    if len(data) > limit:
        raise ImportFileError(_too_large(None, limit))
    csv_file = read_file(data)
    return ContactImport.objects.create(
        file_name=(file_name or "upload.csv")[:255],
        file_size=len(data),
        data=data,
        delimiter=csv_file.delimiter,
        headers=csv_file.headers,
        mapping=guess_mapping(csv_file.headers),
        total_rows=csv_file.row_count,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )


def _too_large(size: int | None, limit: int) -> str:
    actual = f"{size / 1024 / 1024:.1f} MB" if size is not None else "larger than that"
    return (
        f"The file is {actual}; the limit is {limit / 1024 / 1024:.0f} MB. "
        "Split it and upload the parts."
    )


@transaction.atomic
def contact_import_start(
    *, contact_import: ContactImport, mapping: list[str], duplicates: str
) -> ContactImport:
    """Fixes the mapping and the duplicate policy and queues the import (on commit)."""
    from contacts.tasks import run_contact_import  # tasks import services

    if duplicates not in DuplicatePolicy.values:
        raise ImportFileError(f"Unknown duplicate policy “{duplicates}”: use merge or skip.")
    mapping = check_mapping(mapping, contact_import.headers)
    started = ContactImport.objects.filter(
        pk=contact_import.pk, status=ImportStatus.UPLOADED
    ).update(mapping=mapping, duplicates=duplicates, status=ImportStatus.PENDING)
    if started != 1:
        raise ImportFileError("This import has already been started.")
    contact_import.refresh_from_db(fields=["mapping", "duplicates", "status"])
    run_contact_import.delay_on_commit(contact_import.pk)
    return contact_import


@dataclass(slots=True)
class _Plan:
    contacts: dict[str, Row]  # by E.164 number, in file order
    rejections: list[Rejection]
    in_file_merged: int = 0
    in_file_skipped: int = 0


def contact_import_run(*, import_id: int) -> None:
    """Runs a queued import: validate every row, then write everything in one transaction.

    All-or-nothing: the contacts, the rejected rows and the final counts commit together, so
    a failure anywhere (bad data, database error, a killed worker) leaves the contacts exactly
    as they were. Validation, the slow part, runs before the transaction and publishes its
    progress; the write is a handful of bulk statements.
    """
    claimed = ContactImport.objects.filter(
        pk=import_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
    ).update(
        status=ImportStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        processed_rows=0,
        error_message="",
    )
    if claimed != 1:
        return  # done, failed, deleted, or not started
    contact_import = ContactImport.objects.get(pk=import_id)
    if contact_import.attempts > MAX_IMPORT_ATTEMPTS:
        _fail(
            contact_import,
            f"The import was interrupted {MAX_IMPORT_ATTEMPTS} times and was given up; "
            "nothing was saved. Try a smaller file.",
        )
        return
    try:
        # The file passed read_file() at upload; decoding again is all that is needed.
        text = decode(bytes(contact_import.data))
        mapping = check_mapping(contact_import.mapping, contact_import.headers)
        plan = _validate_rows(contact_import, text, contact_import.delimiter, mapping)
        _store(contact_import, plan)
    except CsvFileError as exc:
        _fail(contact_import, str(exc))
    except csv.Error as exc:
        _fail(contact_import, f"The file is not a readable CSV file ({exc}); nothing was saved.")
    except Exception as exc:
        logger.exception("contact import %s failed", import_id)
        _fail(
            contact_import,
            f"The import stopped with an error ({exc.__class__.__name__}); nothing was saved.",
        )


def _fail(contact_import: ContactImport, message: str) -> None:
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ImportStatus.FAILED, error_message=message[:500], finished_at=timezone.now()
    )


def _validate_rows(
    contact_import: ContactImport, text: str, delimiter: str, mapping: list[str]
) -> _Plan:
    checker = RowChecker(
        mapping=mapping, headers=contact_import.headers, default_region=settings_region()
    )
    merge = contact_import.duplicates == DuplicatePolicy.MERGE
    plan = _Plan(contacts={}, rejections=[])
    contacts = plan.contacts
    next_report = time.monotonic() + PROGRESS_EVERY
    processed = 0
    for line, cells in iter_rows(text, delimiter):
        processed += 1
        try:
            row = checker.check(cells)
        except ValueError as exc:
            plan.rejections.append(Rejection(line_number=line, raw=cells, reason=str(exc)))
            continue
        planned = contacts.get(row.phone_e164)
        if planned is None:
            contacts[row.phone_e164] = row
        elif merge:
            # A later row of the same number fills in and overrides what it gives.
            planned.values.update(row.values)
            planned.metadata.update(row.metadata)
            plan.in_file_merged += 1
        else:
            plan.in_file_skipped += 1
        if processed % 256 == 0 and time.monotonic() >= next_report:
            ContactImport.objects.filter(pk=contact_import.pk).update(processed_rows=processed)
            next_report = time.monotonic() + PROGRESS_EVERY
    ContactImport.objects.filter(pk=contact_import.pk).update(processed_rows=processed)
    return plan


_IMPORT_COLUMNS = ("phone_e164", "name", "email", "linkedin_url", "time_zone", "metadata")
# On PostgreSQL a batch travels as one array per column; elsewhere as VALUES rows.
_POSTGRES_BATCH = 10_000


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _bulk_cursor() -> Any:
    """A cursor for the import's few large statements, in the current transaction.

    On PostgreSQL a server-side-binding psycopg cursor: Django's client-side cursor renders
    every array element into the SQL text in Python, several seconds for 100,000 rows.
    """
    if not _postgres():
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _max_rows(columns: int) -> int:
    max_params = connection.features.max_query_params or 65535
    return max(1, min(WRITE_BATCH, max_params // columns))


def _existing(phones: list[str], *, full: bool) -> dict[str, tuple[Any, ...]]:
    """The stored contacts among these numbers: (phone, name, email, linkedin, zone, metadata).

    Plain SQL like the write below: the ORM's per-parameter work on 100,000 numbers cost a
    noticeable share of the import.
    """
    quote = connection.ops.quote_name
    columns = _IMPORT_COLUMNS if full else _IMPORT_COLUMNS[:1]
    select = (
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(Contact._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('phone_e164')} "
    )
    metadata_field = Contact._meta.get_field("metadata")
    batch = _POSTGRES_BATCH if _postgres() else _max_rows(1)
    found: dict[str, tuple[Any, ...]] = {}
    with _bulk_cursor() as cursor:
        for start in range(0, len(phones), batch):
            chunk = phones[start : start + batch]
            if _postgres():
                cursor.execute(select + "= ANY(%s::varchar[])", [chunk])
            else:
                cursor.execute(select + f"IN ({', '.join(['%s'] * len(chunk))})", chunk)
            for values in cursor.fetchall():
                if full:
                    metadata = metadata_field.from_db_value(values[5], None, connection)
                    values = (*values[:5], metadata)
                found[values[0]] = values
    return found


def _upsert_contacts(
    rows: list[tuple[str, str, str, str, str, dict[str, Any]]], *, merge: bool
) -> None:
    """INSERT ... ON CONFLICT for many rows per statement.

    bulk_create(update_conflicts=...) sends the same kind of statement, but builds a model
    instance and compiles every value through the ORM, which cost more than validating the rows
    (see bench/bench_contact_import.py). PostgreSQL gets one array per column (unnest), which
    psycopg and the server handle far faster than thousands of placeholders. A number stored
    meanwhile by someone else is merged into, or left alone with skip, as the policy says.
    """
    quote = connection.ops.quote_name
    columns = [*_IMPORT_COLUMNS, "created_at", "updated_at"]
    if merge:
        updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in _CONTACT_FIELDS)
        conflict = f" ON CONFLICT ({quote('phone_e164')}) DO UPDATE SET {updates}"
    else:
        conflict = f" ON CONFLICT ({quote('phone_e164')}) DO NOTHING"
    # Identifiers come from the model only; every value is a parameter.
    insert = f"INSERT INTO {quote(Contact._meta.db_table)} ({', '.join(map(quote, columns))}) "
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    empty = json.dumps({})

    def metadata(value: dict[str, Any]) -> str:
        return json.dumps(value) if value else empty

    with _bulk_cursor() as cursor:
        if _postgres():
            # %b: psycopg sends the arrays in binary, much cheaper than quoting each element.
            arrays_sql = ", ".join(["%b::varchar[]"] * 5 + ["%b::jsonb[]"])
            sql = f"{insert}SELECT u.*, %s, %s FROM unnest({arrays_sql}) AS u{conflict}"  # noqa: S608
            for start in range(0, len(rows), _POSTGRES_BATCH):
                chunk = rows[start : start + _POSTGRES_BATCH]
                arrays = [list(column) for column in zip(*chunk, strict=True)]
                arrays[5] = [metadata(value) for value in arrays[5]]
                cursor.execute(sql, [now, now, *arrays])
            return
        batch = _max_rows(len(columns))
        placeholder = f"({', '.join(['%s'] * len(columns))})"
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params: list[Any] = []
            for row in chunk:
                params.extend(row[:5])
                params.extend((metadata(row[5]), now, now))
            values = ", ".join([placeholder] * len(chunk))
            cursor.execute(f"{insert}VALUES {values}{conflict}", params)


def _store(contact_import: ContactImport, plan: _Plan) -> None:
    merge = contact_import.duplicates == DuplicatePolicy.MERGE
    with transaction.atomic():
        # The lock makes a second run of the same import (a redelivered task) wait here and
        # then find it finished; a superseded run writes nothing.
        current = (
            ContactImport.objects.select_for_update()
            .only("status", "attempts")
            .get(pk=contact_import.pk)
        )
        if current.status != ImportStatus.RUNNING or current.attempts != contact_import.attempts:
            return
        existing = _existing(list(plan.contacts), full=merge)
        created = 0
        updated = plan.in_file_merged
        skipped = plan.in_file_skipped
        to_write: list[tuple[str, str, str, str, str, dict[str, Any]]] = []
        for phone, planned in plan.contacts.items():
            values, metadata = planned.values, planned.metadata
            old = existing.get(phone)
            if old is None:
                created += 1
                to_write.append(
                    (
                        phone,
                        values.get("name", ""),
                        values.get("email", ""),
                        values.get("linkedin_url", ""),
                        values.get("time_zone") or planned.derived_time_zone,
                        metadata,
                    )
                )
            elif merge:
                # Merge: what the file gives wins, an empty cell keeps what is stored.
                updated += 1  # its other rows in the file are counted in in_file_merged
                _, name, email, linkedin_url, time_zone, old_metadata = old
                to_write.append(
                    (
                        phone,
                        values.get("name") or name,
                        values.get("email") or email,
                        values.get("linkedin_url") or linkedin_url,
                        values.get("time_zone") or time_zone or planned.derived_time_zone,
                        {**(old_metadata or {}), **metadata},
                    )
                )
            else:
                skipped += 1
        _upsert_contacts(to_write, merge=merge)
        ContactImportRejection.objects.bulk_create(
            [
                ContactImportRejection(
                    contact_import_id=contact_import.pk,
                    line_number=rejection.line_number,
                    raw=rejection.raw,
                    reason=rejection.reason[:300],
                )
                for rejection in plan.rejections
            ],
            batch_size=WRITE_BATCH,
        )
        ContactImport.objects.filter(pk=contact_import.pk).update(
            status=ImportStatus.DONE,
            processed_rows=F("total_rows"),
            created_count=created,
            updated_count=updated,
            skipped_count=skipped,
            rejected_count=len(plan.rejections),
            finished_at=timezone.now(),
            # The rows are stored now; the upload itself is no longer needed.
            data=b"",
        )
