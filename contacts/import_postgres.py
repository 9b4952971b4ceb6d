"""PostgreSQL: an import's checked rows into the contacts through a temporary staging table.

The same rules as contacts/import_rows.py (fill, overwrite, skip; repeated numbers folded),
computed by set-based statements, chunk by chunk, while the workers check the next rows.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.utils import timezone

from contacts.csv_import import RejectedRow, check_chunk_for_copy, parse_copy_line
from contacts.db import bulk_cursor
from contacts.import_rows import CHANGED_FIELDS, StagedRows, member_inserts
from contacts.models import (
    Contact,
    ContactImportUpdate,
    DuplicatePolicy,
)

# Staged rows go into the contacts table each time this many have gathered, while the
# workers check the next rows.
STAGED_WRITE_ROWS = 5000

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
        # Started by the first put(): after the worker processes are forked, so that no fork
        # copies a process with a second thread running.
        self.thread = threading.Thread(target=self._run, name="contact-import-writer", daemon=True)

    def cursor(self) -> Any:
        return self.cursor_class(self.connection)

    def put(self, lines: str, count: int) -> None:
        self._raise_failure()
        if self.thread.ident is None:  # not started yet
            self.thread.start()
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
        self.member_inserts = member_inserts(import_id, list_id)
        self.member_inserts_again = member_inserts(import_id, list_id, again=True)
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
