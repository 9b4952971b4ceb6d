"""Writing an import's checked rows into the contacts, under its policy for stored numbers.

fill (the default) keeps every stored value and fills only the empty fields; overwrite lets a
non-empty cell of the file replace the stored value; skip leaves a stored contact as it is. An
empty cell never erases anything. The rows of one number are folded into one first (fill: the
first non-empty cell wins, overwrite: the last), so both database paths give the same contacts:
SQLite computes them in Python (here), PostgreSQL with set-based statements on a staging table
(contacts/import_postgres.py).

write() gives (created, updated, unchanged) and stores every contact it changed with its
changed fields (ContactImportUpdate: {field: [old, new]}).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection
from django.utils import timezone

from contacts.csv_import import CheckedRow, RejectedRow, check_chunk
from contacts.models import (
    Contact,
    ContactImportMember,
    ContactImportUpdate,
    ContactListMember,
    DuplicatePolicy,
)

# Rows per INSERT; lowered further on SQLite to stay under the variable limit.
WRITE_BATCH = 2000
# The fields an import writes and reports changes of, in the order a download lists them.
CHANGED_FIELDS = ("name", "email", "linkedin_url", "time_zone", "metadata")
_IMPORT_COLUMNS = ("phone_e164", *CHANGED_FIELDS)


class StagedRows:
    """The accepted rows of an import, one per number: the first row of each number, with
    what its later rows add (fill, overwrite) or only counted (skip)."""

    def __init__(self, *, policy: str, import_id: int, list_id: int | None = None) -> None:
        self.policy = policy
        self.import_id = import_id
        # Every contact of the file is remembered as the import's, and joins this list.
        self.list_id = list_id
        self.seen: set[str] = set()
        # Later rows of a number, folded: phone -> [name, email, linkedin_url, time_zone, meta].
        self.later_rows: dict[str, list[Any]] = {}
        self.repeated = 0

    # The function that checks a chunk of rows (run in the worker processes) and add(), which
    # takes what it returns and gives back the rejected rows.
    check: Callable[..., Any] = staticmethod(check_chunk)

    def add(self, checked: Any) -> list[RejectedRow]:
        raise NotImplementedError

    def later(self, row: CheckedRow) -> None:
        """Another row of a number seen before."""
        self.repeated += 1
        if self.policy == DuplicatePolicy.SKIP:
            return
        later = self.later_rows.setdefault(row[0], ["", "", "", "", {}])
        if self.policy == DuplicatePolicy.OVERWRITE:
            for index in range(4):
                later[index] = row[index + 1] or later[index]
            later[4].update(row[6] or {})
            return
        # fill: what earlier rows gave stays; a time zone derived from the number counts as
        # given, as it does on the first row (it fills an empty zone there).
        for index in range(3):
            later[index] = later[index] or row[index + 1]
        later[3] = later[3] or row[4] or row[5]
        later[4] = {**(row[6] or {}), **later[4]}

    def finish(self) -> None:
        """Waits until what add() was given is written (and raises what failed there)."""

    def close(self) -> None:
        """Stops whatever still writes (always called, also when the import failed)."""

    def write(self) -> tuple[int, int, int]:
        """Writes the contacts and their changes (in the caller's transaction): (created,
        stored contacts updated, stored contacts unchanged)."""
        raise NotImplementedError


class MemoryRows(StagedRows):
    """SQLite: the rows stay in memory and are written in batches of plain INSERTs."""

    def __init__(self, *, policy: str, import_id: int, list_id: int | None = None) -> None:
        super().__init__(policy=policy, import_id=import_id, list_id=list_id)
        self.firsts: list[CheckedRow] = []

    def add(self, checked: tuple[list[CheckedRow], list[RejectedRow], int]) -> list[RejectedRow]:
        accepted, rejected, _rows = checked
        seen = self.seen
        for row in accepted:
            if row[0] in seen:
                self.later(row)
            else:
                seen.add(row[0])
                self.firsts.append(row)
        return rejected

    def write(self) -> tuple[int, int, int]:
        return _write_from_memory(self)

    def merged(self) -> Iterator[CheckedRow]:
        """One row per number: its first row with what its later rows add."""
        fill = self.policy == DuplicatePolicy.FILL
        for row in self.firsts:
            later = self.later_rows.get(row[0])
            if later is None:
                yield row
                continue
            name, email, linkedin_url, time_zone, metadata = later
            if fill:
                yield (
                    row[0],
                    row[1] or name,
                    row[2] or email,
                    row[3] or linkedin_url,
                    row[4] or row[5] or time_zone,
                    row[5],
                    {**metadata, **(row[6] or {})} or None,
                )
                continue
            yield (
                row[0],
                name or row[1],
                email or row[2],
                linkedin_url or row[3],
                time_zone or row[4],
                row[5],
                {**(row[6] or {}), **metadata} or None,
            )


def _object(value: Any) -> dict[str, Any]:
    # Stored metadata that is not an object (written outside callops) counts as empty.
    return value if isinstance(value, dict) else {}


def _new_values(policy: str, old: tuple[Any, ...], row: CheckedRow) -> tuple[Any, ...]:
    """(name, email, linkedin_url, time_zone, metadata) a stored contact gets from a row."""
    _, name, email, linkedin_url, time_zone, derived, metadata = row
    _, old_name, old_email, old_linkedin, old_zone, old_metadata = old
    if policy == DuplicatePolicy.FILL:
        return (
            old_name or name,
            old_email or email,
            old_linkedin or linkedin_url,
            old_zone or time_zone or derived,
            {**(metadata or {}), **_object(old_metadata)},
        )
    return (
        name or old_name,
        email or old_email,
        linkedin_url or old_linkedin,
        time_zone or old_zone or derived,
        {**_object(old_metadata), **(metadata or {})},
    )


def _write_from_memory(rows: MemoryRows) -> tuple[int, int, int]:
    merged = list(rows.merged())
    skip = rows.policy == DuplicatePolicy.SKIP
    existing = _existing([row[0] for row in merged], full=not skip)
    created = unchanged = 0
    to_write: list[tuple[str, str, str, str, str, dict[str, Any]]] = []
    updates: list[ContactImportUpdate] = []
    for row in merged:
        phone = row[0]
        old = existing.get(phone)
        if old is None:
            created += 1
            to_write.append((phone, row[1], row[2], row[3], row[4] or row[5], row[6] or {}))
            continue
        if skip:
            unchanged += 1
            continue
        new = _new_values(rows.policy, old, row)
        changes = {
            field: [before, after]
            for field, before, after in zip(CHANGED_FIELDS, old[1:], new, strict=True)
            if before != after
        }
        if not changes:
            unchanged += 1
            continue
        to_write.append((phone, *new))
        updates.append(
            ContactImportUpdate(contact_import_id=rows.import_id, phone_e164=phone, changes=changes)
        )
    _upsert_contacts(to_write, merge=not skip)
    ContactImportUpdate.objects.bulk_create(updates, batch_size=WRITE_BATCH)
    _add_members([row[0] for row in merged], import_id=rows.import_id, list_id=rows.list_id)
    return created, len(updates), unchanged


def member_inserts(
    import_id: int, list_id: int | None, *, again: bool = False
) -> list[tuple[str, str, int, str]]:
    """(table, owner column, owner id, conflict clause) of the rows that put a contact in the
    import and in its list: a contact may be in the list already, never twice in one file
    (unless `again`: members added a second time, when a first try may have added some)."""
    quote = connection.ops.quote_name
    inserts = [
        (
            ContactImportMember._meta.db_table,
            "contact_import_id",
            import_id,
            " ON CONFLICT DO NOTHING" if again else "",
        )
    ]
    if list_id is not None:
        inserts.append(
            (
                ContactListMember._meta.db_table,
                "contact_list_id",
                list_id,
                " ON CONFLICT DO NOTHING",
            )
        )
    return [
        (quote(table), quote(column), owner, conflict) for table, column, owner, conflict in inserts
    ]


def _add_members(phones: list[str], *, import_id: int, list_id: int | None) -> None:
    quote = connection.ops.quote_name
    batch = _max_rows(1)
    with connection.cursor() as cursor:
        for table, column, owner, conflict in member_inserts(import_id, list_id):
            for start in range(0, len(phones), batch):
                chunk = phones[start : start + batch]
                cursor.execute(
                    f"INSERT INTO {table} ({column}, {quote('contact_id')}) "  # noqa: S608 - model names
                    f"SELECT %s, id FROM {quote(Contact._meta.db_table)} "
                    f"WHERE {quote('phone_e164')} IN ({', '.join(['%s'] * len(chunk))}){conflict}",
                    [owner, *chunk],
                )


def _max_rows(columns: int) -> int:
    max_params = connection.features.max_query_params or 65535
    return max(1, min(WRITE_BATCH, max_params // columns))


def _existing(phones: list[str], *, full: bool) -> dict[str, tuple[Any, ...]]:
    """The stored contacts among these numbers: (phone, name, email, linkedin, zone, metadata)."""
    quote = connection.ops.quote_name
    columns = _IMPORT_COLUMNS if full else _IMPORT_COLUMNS[:1]
    select = (
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(Contact._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('phone_e164')} "
    )
    metadata_field = Contact._meta.get_field("metadata")
    batch = _max_rows(1)
    found: dict[str, tuple[Any, ...]] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(phones), batch):
            chunk = phones[start : start + batch]
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
    """INSERT ... ON CONFLICT for many rows per statement (SQLite).

    bulk_create(update_conflicts=...) sends the same kind of statement, but builds a model
    instance and compiles every value through the ORM, which cost more than checking the rows.
    The rows hold the values computed from what was stored; a number stored meanwhile by
    someone else gets them too (or is left alone with skip).
    """
    quote = connection.ops.quote_name
    columns = [*_IMPORT_COLUMNS, "created_at", "updated_at"]
    if merge:
        updates = ", ".join(
            f"{quote(c)} = EXCLUDED.{quote(c)}" for c in (*CHANGED_FIELDS, "updated_at")
        )
        conflict = f" ON CONFLICT ({quote('phone_e164')}) DO UPDATE SET {updates}"
    else:
        conflict = f" ON CONFLICT ({quote('phone_e164')}) DO NOTHING"
    # Identifiers come from the model only; every value is a parameter.
    insert = f"INSERT INTO {quote(Contact._meta.db_table)} ({', '.join(map(quote, columns))}) "
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    empty = json.dumps({})
    batch = _max_rows(len(columns))
    placeholder = f"({', '.join(['%s'] * len(columns))})"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params: list[Any] = []
            for row in chunk:
                params.extend(row[:5])
                params.extend((json.dumps(row[5]) if row[5] else empty, now, now))
            values = ", ".join([placeholder] * len(chunk))
            cursor.execute(f"{insert}VALUES {values}{conflict}", params)
