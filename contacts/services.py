"""Writes for contacts, the do-not-call list and CSV imports."""

from __future__ import annotations

import contextlib
import csv
import gc
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO, Any

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction
from contacts.consent_import import consent_import_run
from contacts.csv_import import (
    CsvFileError,
    CsvHeader,
    RejectedRow,
    check_header,
    check_mapping,
    guess_mapping,
    init_pool_worker,
    init_worker,
    iter_chunks,
    read_file,
)
from contacts.db import bulk_cursor, on_postgres
from contacts.import_postgres import PostgresRows
from contacts.import_rows import WRITE_BATCH, MemoryRows, StagedRows
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportRejection,
    ContactList,
    ContactListMember,
    DoNotCallEntry,
    DuplicatePolicy,
    ImportStatus,
    OptOutSource,
)
from contacts.phones import settings_region
from contacts.selectors import contact_import_file

logger = logging.getLogger(__name__)

ImportFileError = CsvFileError

# A run that the worker loses this many times (killed, out of memory) ends failed.
MAX_IMPORT_ATTEMPTS = 3
# Rows per piece of work handed to a worker process, and the smallest file worth the ~0.5 s
# that starting the workers costs (a smaller one is checked in the import's own process).
CHUNK_ROWS = 5000
PARALLEL_MIN_ROWS = 20_000
# How often the validation phase publishes its progress (seconds).
PROGRESS_EVERY = 0.5


def max_import_bytes() -> int:
    return int(getattr(settings, "CALLOPS_CONTACT_IMPORT_MAX_BYTES", 200 * 1024 * 1024))


def max_import_columns() -> int:
    return int(getattr(settings, "CALLOPS_CONTACT_IMPORT_MAX_COLUMNS", 200))


def check_import_columns(contact_import: ContactImport) -> None:
    """TooManyColumns for an import stored before the column limit (or under a higher one)."""
    stored = CsvHeader(contact_import.delimiter, contact_import.headers, complete=True)
    check_header(stored, max_columns=max_import_columns())


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


# --- Lists ------------------------------------------------------------------------------------


class ListNameError(ValueError):
    """A list name that cannot be used; the message says why."""


def contact_list_named(*, name: str, created_by: Any = None) -> ContactList:
    """The list of that name (any case), created when there is none."""
    name = " ".join(name.split())
    if not name:
        raise ListNameError("Give the list a name.")
    if len(name) > 100:
        raise ListNameError("A list name has at most 100 characters.")
    existing = ContactList.objects.filter(name__iexact=name).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        contact_list, _ = ContactList.objects.get_or_create(
            name=name,
            defaults={"created_by": created_by if getattr(created_by, "pk", None) else None},
        )
    return contact_list


def contact_list_add(*, contact: Contact, name: str, created_by: Any = None) -> ContactList:
    contact_list = contact_list_named(name=name, created_by=created_by)
    ContactListMember.objects.get_or_create(contact_list=contact_list, contact=contact)
    return contact_list


def contact_list_remove(*, contact: Contact, contact_list: ContactList) -> None:
    ContactListMember.objects.filter(contact_list=contact_list, contact=contact).delete()


# --- Do-not-call list ---------------------------------------------------------------------------


@transaction.atomic
def do_not_call_add(
    *,
    phone_e164: str,
    reason: str = "",
    added_by: Any = None,
    source: str = OptOutSource.MANUAL,
    call_id: int | None = None,
    evidence: str = "",
) -> tuple[DoNotCallEntry, bool]:
    """Puts a number on the list; (entry, created). A number already listed keeps its entry
    (the first opt-out is the one on record)."""
    return DoNotCallEntry.objects.get_or_create(
        phone_e164=phone_e164,
        defaults={
            "reason": reason[:200],
            "added_by": added_by if getattr(added_by, "pk", None) else None,
            "source": source,
            "call_id": call_id,
            "evidence": evidence[:500],
        },
    )


@transaction.atomic
def do_not_call_remove(*, entry: DoNotCallEntry, reason: str, request: Any = None) -> None:
    """Takes a number off the list, with the reason and the opt-out it undoes in the audit log
    (an opt-out is a legal record: pages and API let only admins do this)."""
    audit_record(
        action=AuditAction.DNC_REMOVED,
        request=request,
        target=entry.phone_e164,
        detail={
            "removal_reason": reason,
            "reason": entry.reason,
            "source": entry.source,
            "call_id": entry.call_id,
        },
    )
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
    csv_file = read_file(data, max_columns=max_import_columns())
    postgres = on_postgres()
    with transaction.atomic():
        contact_import = ContactImport.objects.create(
            file_name=(file_name or "upload.csv")[:255],
            file_size=len(data),
            data=b"" if postgres else data,
            delimiter=csv_file.delimiter,
            headers=csv_file.headers,
            mapping=guess_mapping(csv_file.headers),
            total_rows=csv_file.row_count,
            blank_row_count=csv_file.blank_rows,
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        if postgres:
            _store_file_binary(contact_import.pk, data)
            # The instance holds b"" for the file: deferred, so a later save() cannot write
            # that over it (and reading it loads the stored file).
            del contact_import.__dict__["data"]
    return contact_import


def _store_file_binary(import_id: int, data: bytes) -> None:
    """The upload sent as a binary parameter: Django's cursor would render 58 MB of bytea into
    the SQL text as hex in Python (about a second of the upload request)."""
    table = connection.ops.quote_name(ContactImport._meta.db_table)
    with bulk_cursor() as cursor:
        # prepare=False: a server-side prepared statement breaks behind a pooler (pgbouncer in
        # transaction mode); Django's own queries are never prepared either.
        cursor.execute(
            f"UPDATE {table} SET data = %b WHERE id = %s",  # noqa: S608 - model name
            [data, import_id],
            prepare=False,
        )


def _too_large(size: int | None, limit: int) -> str:
    actual = f"{size / 1024 / 1024:.1f} MB" if size is not None else "larger than that"
    return (
        f"The file is {actual}; the limit is {limit / 1024 / 1024:.0f} MB. "
        "Split it and upload the parts."
    )


@transaction.atomic
def contact_import_start(
    *,
    contact_import: ContactImport,
    mapping: list[str],
    duplicates: str,
    list_name: str = "",
    created_by: Any = None,
) -> ContactImport:
    """Fixes the mapping, the duplicate policy and the list the contacts join (optional), and
    queues the import (on commit)."""
    from contacts.tasks import run_contact_import  # tasks import services

    if duplicates not in DuplicatePolicy.values:
        raise ImportFileError(
            f"Unknown choice for stored numbers “{duplicates}”: use fill, overwrite or skip."
        )
    check_import_columns(contact_import)
    mapping = check_mapping(mapping, contact_import.headers)
    try:
        contact_list = (
            contact_list_named(name=list_name, created_by=created_by) if list_name.strip() else None
        )
    except ListNameError as exc:
        raise ImportFileError(str(exc)) from None
    started = ContactImport.objects.filter(
        pk=contact_import.pk, status=ImportStatus.UPLOADED
    ).update(
        mapping=mapping,
        duplicates=duplicates,
        contact_list=contact_list,
        status=ImportStatus.PENDING,
    )
    if started != 1:
        raise ImportFileError("This import has already been started.")
    contact_import.refresh_from_db(fields=["mapping", "duplicates", "contact_list", "status"])
    run_contact_import.delay_on_commit(contact_import.pk)
    return contact_import


def contact_import_run(*, import_id: int) -> None:
    """Runs a queued import: check every row and write the contacts, in one transaction.

    All-or-nothing: the contacts, the rejected rows and the final counts commit together, so
    a failure anywhere (bad data, database error, a killed worker) leaves the contacts exactly
    as they were. Checking, the slow part, reads the file as a stream, runs in worker processes
    on large files (one per core) and publishes its progress. On PostgreSQL the contacts are
    written batch by batch while the workers check the next rows (COPY into a temporary
    staging table, then INSERT ... ON CONFLICT), all in the one transaction; on SQLite the
    checked rows wait in memory and are written at the end.
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
    contact_import = ContactImport.objects.defer("data").get(pk=import_id)
    if contact_import.attempts > MAX_IMPORT_ATTEMPTS:
        _fail(
            contact_import,
            f"The import was interrupted {MAX_IMPORT_ATTEMPTS} times and was given up; "
            "nothing was saved. Try a smaller file.",
        )
        return
    try:
        check_import_columns(contact_import)
        mapping = check_mapping(contact_import.mapping, contact_import.headers)
        if on_postgres():
            _import_on_postgres(contact_import, mapping)
        else:
            _import_in_memory(contact_import, mapping)
    except _Superseded:
        return  # a later run of the same import owns it now; this one wrote nothing
    except CsvFileError as exc:
        _fail(contact_import, str(exc))
    except (csv.Error, UnicodeDecodeError) as exc:
        _fail(contact_import, f"The file is not a readable CSV file ({exc}); nothing was saved.")
    except Exception as exc:
        logger.exception("contact import %s failed", import_id)
        _fail(
            contact_import,
            f"The import stopped with an error ({exc.__class__.__name__}); nothing was saved.",
        )


class _Superseded(Exception):  # noqa: N818 - not an error: another run took the import over
    """A later run of the same import (a redelivered task) has claimed it since this one."""


def _import_in_memory(contact_import: ContactImport, mapping: list[str]) -> None:
    rows = MemoryRows(
        policy=contact_import.duplicates,
        import_id=contact_import.pk,
        list_id=contact_import.contact_list_id,
    )
    with _progress_publisher(contact_import.pk, own_connection=False) as publish:
        rejections = _check_rows(contact_import, mapping, rows, publish)
    with transaction.atomic():
        _store(contact_import, rows, rejections)


def _import_on_postgres(contact_import: ContactImport, mapping: list[str]) -> None:
    # The whole import is one transaction, open while the rows are checked: its progress goes
    # through a connection of its own, or nobody would see it before the end.
    with (
        _progress_publisher(contact_import.pk, own_connection=True) as publish,
        transaction.atomic(),
    ):
        rows = PostgresRows(
            policy=contact_import.duplicates,
            import_id=contact_import.pk,
            list_id=contact_import.contact_list_id,
            time_zones_given="time_zone" in mapping,
        )
        rejections = _check_rows(contact_import, mapping, rows, publish)
        _store(contact_import, rows, rejections)


@contextlib.contextmanager
def _progress_publisher(import_id: int, *, own_connection: bool) -> Iterator[Callable[[int], None]]:
    """publish(rows checked so far), through the ORM, or through a second connection of its
    own (autocommit) while the import's writes wait in an open transaction."""
    if not own_connection:
        yield lambda processed: _publish_progress(import_id, processed)
        return
    progress_connection = connections.create_connection(connection.alias)
    table = progress_connection.ops.quote_name(ContactImport._meta.db_table)
    update = f"UPDATE {table} SET processed_rows = %s WHERE id = %s"  # noqa: S608 - model name
    broken: list[Exception] = []

    def publish(processed: int) -> None:
        if broken:
            return
        try:
            with progress_connection.cursor() as cursor:
                cursor.execute(update, [processed, import_id])
        except DatabaseError as exc:
            # A progress bar that stands still is better than an import that fails for it.
            logger.warning("contact import %s: progress not published (%s)", import_id, exc)
            broken.append(exc)

    try:
        yield publish
    finally:
        progress_connection.close()


def _publish_progress(import_id: int, processed: int) -> None:
    ContactImport.objects.filter(pk=import_id).update(processed_rows=processed)


def _fail(contact_import: ContactImport, message: str) -> None:
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ImportStatus.FAILED, error_message=message[:500], finished_at=timezone.now()
    )


def import_workers() -> int:
    """Processes that check rows of a large import: CALLOPS_CONTACT_IMPORT_WORKERS, else one per
    core (phone parsing is CPU-bound Python; more processes than cores only add switching)."""
    configured = int(getattr(settings, "CALLOPS_CONTACT_IMPORT_WORKERS", 0) or 0)
    return max(1, configured or os.cpu_count() or 1)


def _start_pool(workers: int, initargs: tuple[Any, ...]) -> ProcessPoolExecutor | None:
    """Worker processes for checking rows, or None where they cannot start (then the import
    checks its rows itself, only slower)."""
    # fork where there is one: the workers start at once with every module already imported,
    # and never touch the database connection they inherit (they only check cells, and leave
    # with os._exit, which closes nothing). spawn elsewhere: it re-imports the main module.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    try:
        with _children_allowed(context.get_start_method()):
            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=init_pool_worker,
                initargs=(*initargs, os.getpid()),
            )
            # With fork every worker starts at the first task, here.
            pool.submit(int).result(timeout=60)
    except Exception:
        logger.warning("contact import: worker processes did not start", exc_info=True)
        return None
    return pool


@contextlib.contextmanager
def _children_allowed(start_method: str) -> Iterator[None]:
    """Lets a Celery prefork worker's process start the import's pool.

    Celery (billiard) marks its pool processes daemonic, and multiprocessing refuses children
    to a daemonic process, which may be ended without waiting for them. Here the import shuts
    its pool down itself, and each worker leaves on its own when its parent dies (see
    init_pool_worker), so the mark is lifted while the pool starts. Only with fork, which
    starts every worker at once; with spawn, workers start later, as tasks come.
    """
    process = multiprocessing.current_process()
    if not process.daemon:
        yield
        return
    if start_method != "fork":
        raise RuntimeError("a daemonic process starts its pool only with fork")
    process.daemon = False
    try:
        yield
    finally:
        process.daemon = True


def _checked_chunks(
    contact_import: ContactImport, mapping: list[str], check: Callable[..., Any]
) -> Iterator[Any]:
    """What `check` made of each chunk of rows (its last item: the chunk's rows), in file
    order."""
    # The file passed read_file() at upload; it is decoded again as it is read.
    data = contact_import_file(pk=contact_import.pk)
    chunks = iter_chunks(data, contact_import.delimiter, CHUNK_ROWS)
    initargs = (mapping, contact_import.headers, settings_region())
    workers = import_workers()
    pool = None
    if workers > 1 and contact_import.total_rows >= PARALLEL_MIN_ROWS:
        pool = _start_pool(workers, initargs)
    if pool is None:
        init_worker(*initargs)
        for chunk in chunks:
            yield check(chunk)
        return
    with pool:
        # A few chunks in flight per worker keep every core busy while this process reads the
        # file and writes what came back; results are taken in file order.
        in_flight: deque[Future] = deque()
        for chunk in chunks:
            in_flight.append(pool.submit(check, chunk))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def _check_rows(
    contact_import: ContactImport,
    mapping: list[str],
    rows: StagedRows,
    publish: Callable[[int], None],
) -> list[RejectedRow]:
    """Checks every row into `rows` (deduplicated) and returns the rejected ones."""
    rejections: list[RejectedRow] = []
    processed = 0
    next_report = time.monotonic() + PROGRESS_EVERY
    try:
        with _cyclic_gc_paused():
            for checked in _checked_chunks(contact_import, mapping, rows.check):
                rejections.extend(rows.add(checked))
                processed += checked[-1]
                if time.monotonic() >= next_report:
                    publish(processed)
                    next_report = time.monotonic() + PROGRESS_EVERY
            rows.finish()
    finally:
        rows.close()  # on PostgreSQL, its writer thread is done with the connection
    publish(processed)
    return rejections


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Holds Python's cyclic garbage collector while a large file is read: each row's list of
    cells is a new container, and a million of them set off collector passes over everything
    the process holds (Django, the numbers seen so far) that find nothing to free. Memory is
    still freed by reference counting; the collector catches up when it is switched back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _store(contact_import: ContactImport, rows: StagedRows, rejections: list[RejectedRow]) -> None:
    """Writes what is left of the rows, the rejections and the counts (in the caller's
    transaction), or raises _Superseded, and the transaction then takes back what was written."""
    # The lock makes a second run of the same import (a redelivered task) wait here and
    # then find it finished; a superseded run keeps nothing (its transaction is undone).
    current = (
        ContactImport.objects.select_for_update()
        .only("status", "attempts")
        .get(pk=contact_import.pk)
    )
    if current.status != ImportStatus.RUNNING or current.attempts != contact_import.attempts:
        raise _Superseded
    created, updated, unchanged = rows.write()
    consent_import_run(contact_import, {line for line, _raw, _reason in rejections})
    ContactImportRejection.objects.bulk_create(
        [
            ContactImportRejection(
                contact_import_id=contact_import.pk,
                line_number=line,
                raw=raw,
                reason=reason[:300],
            )
            for line, raw, reason in rejections
        ],
        batch_size=WRITE_BATCH,
    )
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ImportStatus.DONE,
        processed_rows=F("total_rows"),
        created_count=created,
        updated_count=updated,
        unchanged_count=unchanged,
        repeated_count=rows.repeated,
        rejected_count=len(rejections),
        finished_at=timezone.now(),
        # The rows are stored now; the upload itself is no longer needed.
        data=b"",
    )
