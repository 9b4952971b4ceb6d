"""Writing an import's checked rows into the contacts, under its policy for stored numbers.

fill (the default) keeps every stored value and fills only the empty fields; overwrite lets a
non-empty cell of the file replace the stored value; skip leaves a stored contact as it is. An
empty cell never erases anything. The rows of one number are folded into one first (fill: the
first non-empty cell wins, overwrite: the last), so both database paths give the same contacts:
SQLite computes them in Python, PostgreSQL with set-based statements on a staging table.

write() gives (created, updated, unchanged) and stores every contact it changed with its
changed fields (ContactImportUpdate: {field: [old, new]}).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection
from django.utils import timezone

from contacts.csv_import import (
    CheckedRow,
    RejectedRow,
    check_chunk,
    check_chunk_for_copy,
    parse_copy_line,
)
from contacts.db import bulk_cursor
from contacts.models import (
    Contact,
    ContactImportMember,
    ContactImportUpdate,
    ContactListMember,
    DuplicatePolicy,
)

# Rows per INSERT; lowered further on SQLite to stay under the variable limit.
WRITE_BATCH = 2000
# On PostgreSQL, staged rows go into the contacts table each time this many have gathered,
# while the workers check the next rows.
STAGED_WRITE_ROWS = 5000
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


def _member_inserts(
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
        for table, column, owner, conflict in _member_inserts(import_id, list_id):
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


# The staging tables of a PostgreSQL import: temporary, so private to the connection and gone
# with it (a killed worker leaves nothing behind).
_STAGING = "contact_import_rows"
_STAGING_LATER = "contact_import_later_rows"
# The stored values of every contact the import touches, as they were before it.
_BEFORE = "contact_import_before"
_STAGING_COLUMNS = (
    "phone_e164",
    "name",
    "email",
    "linkedin_url",
    "time_zone",
    "derived_time_zone",
    "metadata",
)
_INSERTED_COLUMNS = (
    "phone_e164, name, email, linkedin_url, time_zone, metadata, created_at, updated_at"
)
_STORED_METADATA = "(CASE WHEN jsonb_typeof(c.metadata) = 'object' THEN c.metadata ELSE '{}' END)"


def _set_clause(policy: str, new: str, time_zone: str) -> list[tuple[str, str]]:
    """(column, value) of a stored contact `c` given the file's values in `new`; the same
    rules as _new_values."""
    if policy == DuplicatePolicy.FILL:
        texts = [(f, f"COALESCE(NULLIF(c.{f}, ''), {new}.{f})") for f in CHANGED_FIELDS[:3]]
        return [
            *texts,
            ("time_zone", f"COALESCE(NULLIF(c.time_zone, ''), {time_zone})"),
            ("metadata", f"COALESCE({new}.metadata, '{{}}') || {_STORED_METADATA}"),
        ]
    texts = [(f, f"COALESCE(NULLIF({new}.{f}, ''), c.{f})") for f in CHANGED_FIELDS[:3]]
    return [
        *texts,
        ("time_zone", time_zone),
        ("metadata", f"{_STORED_METADATA} || COALESCE({new}.metadata, '{{}}')"),
    ]


def _update_sql(sets: list[tuple[str, str]]) -> str:
    """SET ... WHERE the values change: a contact the rows leave as it is gets no new row
    version (and keeps its updated_at)."""
    assignments = ", ".join(f"{column} = {value}" for column, value in sets)
    stored = ", ".join(f"c.{column}" for column, _ in sets)
    values = ", ".join(value for _, value in sets)
    return f"SET {assignments}, updated_at = %s WHERE ({stored}) IS DISTINCT FROM ({values})"


def _stored_contacts(table: str, columns: str) -> str:
    """FROM items giving the stored contact `c` (`columns`) of each staged row that has one.

    One probe of the unique index per staged row, whatever the planner thinks of the
    contacts table: the rows an import inserts have no statistics until it commits, so a
    plain join was planned as a hash join over the whole (growing) table for every chunk.
    """
    return (
        f"{_STAGING} AS s CROSS JOIN LATERAL (SELECT {columns} FROM {table} "  # noqa: S608
        "WHERE phone_e164 = s.phone_e164 LIMIT 1) AS c"
    )


class StagingWriter:
    """Runs `stage(lines, count)` for each chunk put(), in a thread of its own, on the import's
    connection (psycopg connections may be shared between threads), in put() order.

    Writing a chunk is mostly PostgreSQL's work (COPY, then INSERT ... ON CONFLICT); while
    its statements run, the importing process goes on reading the file, handing rows to the
    workers and folding repeated numbers, instead of waiting. A failure is raised by the next
    put() or by finish(); close() (always called) waits until the thread has stopped using
    the connection, so the transaction is taken back only after it.
    """

    # Chunks put and not yet written: enough to keep the thread busy, not to fill memory.
    QUEUED = 2

    def __init__(self, stage: Callable[[str, int], None]) -> None:
        import psycopg  # PostgreSQL only

        self.stage = stage
        connection.ensure_connection()
        self.connection = connection.connection
        self.cursor_class = psycopg.Cursor
        self.failure: BaseException | None = None
        self.queue: queue.Queue[tuple[str, int] | None] = queue.Queue(self.QUEUED)
        self.thread = threading.Thread(target=self._run, name="contact-import-writer", daemon=True)
        self.thread.start()

    def cursor(self) -> Any:
        return self.cursor_class(self.connection)

    def put(self, lines: str, count: int) -> None:
        self._raise_failure()
        self.queue.put((lines, count))

    def finish(self) -> None:
        """Waits for every chunk put to be written; raises the writer's failure."""
        self.close()
        self._raise_failure()

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.failure is None:  # after a failure, chunks are only taken off the queue
                try:
                    self.stage(*chunk)
                except BaseException as exc:  # noqa: BLE001 - raised in the importing thread
                    self.failure = exc


class PostgresRows(StagedRows):
    """PostgreSQL: each checked chunk goes to a temporary staging table with COPY, and from
    there into the contacts at once (INSERT ... ON CONFLICT), while the worker processes check
    the next chunks; all in the import's one transaction. The stored values of the contacts a
    chunk touches are copied aside first, so the changes are found with one join at the end."""

    def __init__(
        self,
        *,
        policy: str,
        import_id: int,
        list_id: int | None = None,
        time_zones_given: bool = True,
    ) -> None:
        super().__init__(policy=policy, import_id=import_id, list_id=list_id)
        # Without a time zone column no row gives one: one statement per chunk is enough.
        self.time_zones_given = time_zones_given
        self.staged = 0
        self.unwritten = 0
        self.created = 0
        # One timestamp for the whole import, as when it was written in one statement.
        self.now = timezone.now()
        self.table = connection.ops.quote_name(Contact._meta.db_table)
        # Built here: the writer thread has no Django connection of its own to ask.
        self.member_inserts = _member_inserts(import_id, list_id)
        self.member_inserts_again = _member_inserts(import_id, list_id, again=True)
        self._writer = StagingWriter(self._stage)
        with bulk_cursor() as cursor:
            for table in (_STAGING, _STAGING_LATER):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
                cursor.execute(
                    f"CREATE TEMP TABLE {table} (phone_e164 text, name text, email text, "
                    "linkedin_url text, time_zone text, derived_time_zone text, metadata jsonb) "
                    "ON COMMIT DROP"
                )
            cursor.execute(f"DROP TABLE IF EXISTS {_BEFORE}")
            cursor.execute(
                f"CREATE TEMP TABLE {_BEFORE} (id bigint, phone_e164 text, name text, "
                "email text, linkedin_url text, time_zone text, metadata jsonb) ON COMMIT DROP"
            )
            self._check_members_at_once(cursor)

    def _check_members_at_once(self, cursor: Any) -> None:
        """The member rows' foreign keys are checked as each chunk is written, not at commit.

        Django makes them deferred: a million member rows left two million checks for the
        COMMIT, where PostgreSQL ran them on one core while the workers had nothing left to
        do. Checked with each chunk, they run while the workers check the next rows. Every
        member row points at a contact that exists by then, so nothing else changes (and the
        transaction's end restores the deferral).
        """
        tables = [ContactImportMember._meta.db_table, ContactListMember._meta.db_table]
        cursor.execute(
            "SELECT string_agg(quote_ident(conname), ', ') FROM pg_constraint "
            "WHERE contype = 'f' AND condeferrable AND conrelid = ANY(%s::regclass[])",
            [tables],
        )
        names = cursor.fetchone()[0]
        if names:
            cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")

    check = staticmethod(check_chunk_for_copy)

    def add(
        self, checked: tuple[list[str], list[str], list[RejectedRow], int]
    ) -> list[RejectedRow]:
        phones, lines, rejected, _rows = checked
        seen = self.seen
        firsts: list[str] = []
        for phone, line in zip(phones, lines, strict=True):
            if phone in seen:
                self.later(parse_copy_line(line))
            else:
                seen.add(phone)
                firsts.append(line)
        if firsts:
            self._writer.put("".join(firsts), len(firsts))
        return rejected

    def finish(self) -> None:
        self._writer.finish()

    def close(self) -> None:
        self._writer.close()

    def _stage(self, lines: str, count: int) -> None:
        """In the writer thread: a chunk's first rows into the staging table, and on into the
        contacts once enough have gathered."""
        with (
            self._writer.cursor() as cursor,
            cursor.copy(f"COPY {_STAGING} ({', '.join(_STAGING_COLUMNS)}) FROM STDIN") as copy,
        ):
            copy.write(lines)
        self.staged += count
        self.unwritten += count
        if self.unwritten >= STAGED_WRITE_ROWS:
            self._write_staged()

    def _write_staged(self) -> None:
        with self._writer.cursor() as cursor:
            members = self._insert_staged(cursor)
            if members < self.unwritten:
                # A number someone else stored while the statement ran (after its snapshot,
                # so in neither its stored nor its created contacts) joins the import here.
                self._insert_members(cursor)
            cursor.execute(f"TRUNCATE {_STAGING}")
        self.unwritten = 0

    def _insert_staged(self, cursor: Any) -> int:
        """The staged rows into the contacts: new numbers inserted, stored ones filled,
        overwritten or left alone (skip); each contact into the import (and its list).
        Returns how many contacts joined the import.

        No table lock: ON CONFLICT settles a number that someone else stores meanwhile, row
        by row, and other writers of contacts go on (only the same numbers wait for the end).
        The numbers not stored yet (nearly every row of most files) go first, with their
        members, in one statement that also takes them off the staging table; only the rows
        left, of stored numbers, are looked up in the contacts (_write_stored).
        """
        created, members = self._execute_written(
            cursor,
            f"written AS (INSERT INTO {self.table} ({_INSERTED_COLUMNS}) "  # noqa: S608
            "SELECT phone_e164, name, email, linkedin_url, "  # identifiers from the model
            "COALESCE(NULLIF(time_zone, ''), derived_time_zone), COALESCE(metadata, '{}'), "
            # In number order the unique index takes a chunk's rows page by page.
            f"%s, %s FROM {_STAGING} ORDER BY phone_e164 "
            "ON CONFLICT (phone_e164) DO NOTHING RETURNING id, phone_e164, true AS created), "
            f"taken AS (DELETE FROM {_STAGING} AS s USING written AS w "
            "WHERE s.phone_e164 = w.phone_e164)",
            [self.now, self.now],
            stored=None,
        )
        self.created += created
        if created == self.unwritten:
            return members
        return members + self._write_stored(cursor)

    def _write_stored(self, cursor: Any) -> int:
        """The staged rows of numbers already stored into their contacts (and the import):
        filled, overwritten or left alone (skip). Returns how many contacts joined the import.

        The contacts are the ones stored before the statement (found by number, one probe of
        the unique index per row) and any it creates (a number deleted meanwhile), so the
        contacts table is not joined again after the writes.
        """
        columns = _INSERTED_COLUMNS
        if self.policy == DuplicatePolicy.SKIP:
            created, members = self._execute_written(
                cursor,
                f"stored AS (SELECT c.id FROM {_stored_contacts(self.table, 'id')}), "  # noqa: S608
                f"written AS (INSERT INTO {self.table} ({columns}) "  # model names
                "SELECT phone_e164, name, email, linkedin_url, "
                "COALESCE(NULLIF(time_zone, ''), derived_time_zone), COALESCE(metadata, '{}'), "
                f"%s, %s FROM {_STAGING} ORDER BY phone_e164 "
                "ON CONFLICT (phone_e164) DO NOTHING RETURNING id, true AS created)",
                [self.now, self.now],
                stored="stored",
            )
            self.created += created
            return members
        # The statement's snapshot is taken before it writes: `before` holds the stored values.
        stored_columns = "id, phone_e164, name, email, linkedin_url, time_zone, metadata"
        before = (
            f"before AS (INSERT INTO {_BEFORE} ({stored_columns}) "  # noqa: S608 - model names
            f"SELECT c.* FROM {_stored_contacts(self.table, stored_columns)} RETURNING id)"
        )
        if self.policy == DuplicatePolicy.FILL:
            # The zone given, else the one derived from the number, fills an empty one.
            statements = [
                ("", "COALESCE(NULLIF(time_zone, ''), derived_time_zone)", "EXCLUDED.time_zone")
            ]
        else:
            # A time zone given in the file wins over the stored one; the zone derived from
            # the number only fills an empty one. EXCLUDED holds a single time zone, so the
            # rows that give one and the rows that do not are written by two statements.
            statements = [
                ("WHERE COALESCE(time_zone, '') <> ''", "time_zone", "EXCLUDED.time_zone"),
                (
                    "WHERE COALESCE(time_zone, '') = ''",
                    "derived_time_zone",
                    "COALESCE(NULLIF(c.time_zone, ''), EXCLUDED.time_zone)",
                ),
            ][0 if self.time_zones_given else 1 :]
        members = 0
        for index, (where, inserted_zone, zone) in enumerate(statements):
            update = _update_sql(_set_clause(self.policy, "EXCLUDED", zone))
            created, joined = self._execute_written(
                cursor,
                f"{before + ', ' if index == 0 else ''}"  # noqa: S608 - model identifiers
                f"written AS (INSERT INTO {self.table} AS c ({columns}) "
                f"SELECT phone_e164, name, email, linkedin_url, {inserted_zone}, "
                f"COALESCE(metadata, '{{}}'), %s, %s FROM {_STAGING} {where} "
                # In number order the unique index takes a chunk's rows page by page.
                f"ORDER BY phone_e164 ON CONFLICT (phone_e164) DO UPDATE {update} "
                # xmax is 0 on a row version this statement inserted, and set on one it
                # updated (the row lock the update took).
                "RETURNING id, xmax = 0 AS created)",
                [self.now, self.now, self.now],
                stored="before" if index == 0 else None,
            )
            self.created += created
            members += joined
        return members

    def _execute_written(
        self, cursor: Any, ctes: str, params: list[Any], *, stored: str | None
    ) -> tuple[int, int]:
        """Runs `ctes` (which end with `written`: id, created) with the member inserts of the
        contacts written created and of those in `stored`; (created, members added)."""
        inserts = self.member_inserts
        joined = "SELECT id FROM written WHERE created"
        if stored:
            joined += f" UNION ALL SELECT id FROM {stored}"  # noqa: S608 - a CTE's name
        members = ", ".join(
            f"member{index} AS (INSERT INTO {table} ({column}, contact_id) "  # noqa: S608
            f"SELECT %s, id FROM joined{conflict})"
            for index, (table, column, _owner, conflict) in enumerate(inserts)
        )
        cursor.execute(
            f"WITH {ctes}, joined AS ({joined}), {members} "  # noqa: S608 - built above
            "SELECT (SELECT count(*) FROM written WHERE created), (SELECT count(*) FROM joined)",
            [*params, *(owner for _table, _column, owner, _conflict in inserts)],
        )
        return cursor.fetchone()

    def _insert_members(self, cursor: Any) -> None:
        """Every staged row's contact into the import (and its list), those already in it
        left as they are."""
        inserts = self.member_inserts_again
        statements = [
            f"INSERT INTO {table} ({column}, contact_id) SELECT %s, id FROM staged{conflict}"  # noqa: S608
            for table, column, _owner, conflict in inserts
        ]
        # Both inserts read the one join: the first as a data-modifying CTE.
        first = f"first AS ({statements[0]}) " if len(statements) == 2 else ""
        cursor.execute(
            f"WITH staged AS (SELECT c.id FROM {_stored_contacts(self.table, 'id')})"  # noqa: S608
            f"{', ' + first if first else ' '}{statements[-1]}",
            [owner for _table, _column, owner, _conflict in inserts],
        )

    def write(self) -> tuple[int, int, int]:
        self.finish()
        if self.unwritten:
            self._write_staged()
        if self.policy == DuplicatePolicy.SKIP:
            return self.created, 0, self.staged - self.created
        with bulk_cursor() as cursor:
            if self.later_rows:
                self._write_later(cursor)
            # Temporary tables get no statistics unless asked: without them the planner takes
            # the table for a small one and may pick a nested loop over a large one.
            cursor.execute(f"ANALYZE {_BEFORE}")
            changed = [
                f"CASE WHEN b.{f} IS DISTINCT FROM c.{f} THEN "
                f"jsonb_build_object('{f}', jsonb_build_array(b.{f}, c.{f})) ELSE '{{}}' END"
                for f in CHANGED_FIELDS
            ]
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(ContactImportUpdate._meta.db_table)} "  # noqa: S608
                "(contact_import_id, phone_e164, changes) "
                f"SELECT %s, b.phone_e164, {' || '.join(changed)} "
                f"FROM {_BEFORE} AS b JOIN {self.table} AS c ON c.phone_e164 = b.phone_e164 "
                f"WHERE ({', '.join(f'b.{f}' for f in CHANGED_FIELDS)}) "
                f"IS DISTINCT FROM ({', '.join(f'c.{f}' for f in CHANGED_FIELDS)})",
                [self.import_id],
            )
            updated = cursor.rowcount
        return self.created, updated, self.staged - self.created - updated

    def _write_later(self, cursor: Any) -> None:
        """Folds the later rows of repeated numbers into their contacts."""
        with cursor.copy(
            f"COPY {_STAGING_LATER} ({', '.join(_STAGING_COLUMNS)}) FROM STDIN"
        ) as copy:
            for phone, later in self.later_rows.items():
                metadata = json.dumps(later[4]) if later[4] else None
                copy.write_row((phone, *later[:4], "", metadata))
        cursor.execute(f"ANALYZE {_STAGING_LATER}")
        zone = (
            "l.time_zone"
            if self.policy == DuplicatePolicy.FILL
            else "COALESCE(NULLIF(l.time_zone, ''), c.time_zone)"
        )
        update = _update_sql(_set_clause(self.policy, "l", zone))
        set_part, where = update.split(" WHERE ", 1)
        cursor.execute(
            f"UPDATE {self.table} AS c {set_part} "  # noqa: S608 - identifiers from the model
            f"FROM {_STAGING_LATER} AS l WHERE c.phone_e164 = l.phone_e164 AND {where}",
            [self.now],
        )
