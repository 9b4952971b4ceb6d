"""The analytics summary's change tracking: database triggers that record which hours changed.

Every insert, delete or change of a summed column of `calls_call`, and every change of a call's
review, appends a row to the change table in the same transaction (rule 1 of `analytics.summary`).
Triggers, not application code, because calls change in many places (webhooks, sync, campaigns,
the Revont import, admin deletes, raw SQL) and none of them may be forgotten. Installed by
dashboard/migrations/0005 and analytics/migrations/0002, checked and put back by every refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

# Columns of calls_call whose change alters a figure. A calls migration that renames one of them
# must change this list (the PostgreSQL function names them; tests fail until it does).
CALL_COLUMNS = (
    "created_at",
    "vendor_account_id",
    "agent_id",
    "campaign_id",
    "state",
    "outcome",
    "vendor_outcome",
    "common_outcome",
    "duration_seconds",
)
REVIEW_COLUMNS = ("call_id", "is_reviewed", "rating")
CHANGE_TABLE = "dashboard_summarychange"
TRIGGERS = (
    "callops_summary_call_insert",
    "callops_summary_call_update",
    "callops_summary_call_delete",
    "callops_summary_review_insert",
    "callops_summary_review_update",
    "callops_summary_review_delete",
)

_PG_HOUR = "date_trunc('hour', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _pg_statements(columns: Sequence[str] = CALL_COLUMNS) -> list[str]:
    """Statement-level triggers with transition tables: one change row per distinct hour (or
    call) per statement, so a bulk insert of a million calls writes a few thousand rows."""
    old = ", ".join(f"o.{column}" for column in columns)
    new = ", ".join(f"n.{column}" for column in columns)
    old_review = ", ".join(f"o.{column}" for column in REVIEW_COLUMNS)
    new_review = ", ".join(f"n.{column}" for column in REVIEW_COLUMNS)
    hour = _PG_HOUR.format("changed.at")
    calls_function = f"""
CREATE OR REPLACE FUNCTION callops_summary_calls_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {CHANGE_TABLE} (hour)
        SELECT DISTINCT {_PG_HOUR.format("created_at")} FROM new_calls;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {CHANGE_TABLE} (hour)
        SELECT DISTINCT {_PG_HOUR.format("created_at")} FROM old_calls;
    ELSE
        INSERT INTO {CHANGE_TABLE} (hour)
        SELECT DISTINCT {hour}
        FROM old_calls o JOIN new_calls n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.created_at), (n.created_at)) AS changed(at)
        WHERE ({old}) IS DISTINCT FROM ({new});
    END IF;
    RETURN NULL;
END
$$"""  # noqa: S608 (column and table names are this module's constants)
    reviews_function = f"""
CREATE OR REPLACE FUNCTION callops_summary_reviews_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {CHANGE_TABLE} (call_id) SELECT DISTINCT call_id FROM new_reviews;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {CHANGE_TABLE} (call_id) SELECT DISTINCT call_id FROM old_reviews;
    ELSE
        INSERT INTO {CHANGE_TABLE} (call_id)
        SELECT DISTINCT changed.call_id
        FROM old_reviews o JOIN new_reviews n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.call_id), (n.call_id)) AS changed(call_id)
        WHERE ({old_review}) IS DISTINCT FROM ({new_review});
    END IF;
    RETURN NULL;
END
$$"""  # noqa: S608 (column and table names are this module's constants)
    statements = [calls_function, reviews_function]
    for table, function, alias in (
        ("calls_call", "callops_summary_calls_changed", "calls"),
        ("calls_callreview", "callops_summary_reviews_changed", "reviews"),
    ):
        prefix = "callops_summary_call" if alias == "calls" else "callops_summary_review"
        for event, referencing in (
            ("INSERT", f"NEW TABLE AS new_{alias}"),
            ("UPDATE", f"OLD TABLE AS old_{alias} NEW TABLE AS new_{alias}"),
            ("DELETE", f"OLD TABLE AS old_{alias}"),
        ):
            name = f"{prefix}_{event.lower()}"
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    return statements


_SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00', {})"


def _sqlite_statements(columns: Sequence[str] = CALL_COLUMNS) -> list[str]:
    """Row-level triggers: SQLite has no statement-level ones. Their bodies name only the change
    table: a trigger naming another table breaks that table's rebuild by a later migration."""
    changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in columns)
    review_changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in REVIEW_COLUMNS)
    old_hour = _SQLITE_HOUR.format("OLD.created_at")
    new_hour = _SQLITE_HOUR.format("NEW.created_at")
    insert = f"INSERT INTO {CHANGE_TABLE} (hour)"
    insert_call = f"INSERT INTO {CHANGE_TABLE} (call_id)"
    bodies = {
        "callops_summary_call_insert": (
            "AFTER INSERT ON calls_call",
            f"{insert} VALUES ({new_hour});",
        ),
        "callops_summary_call_update": (
            f"AFTER UPDATE ON calls_call WHEN {changed}",
            f"{insert} VALUES ({old_hour}); "
            f"{insert} SELECT {new_hour} WHERE {new_hour} IS NOT {old_hour};",
        ),
        "callops_summary_call_delete": (
            "AFTER DELETE ON calls_call",
            f"{insert} VALUES ({old_hour});",
        ),
        "callops_summary_review_insert": (
            "AFTER INSERT ON calls_callreview",
            f"{insert_call} VALUES (NEW.call_id);",
        ),
        "callops_summary_review_update": (
            f"AFTER UPDATE ON calls_callreview WHEN {review_changed}",
            f"{insert_call} VALUES (OLD.call_id); "
            f"{insert_call} SELECT NEW.call_id WHERE NEW.call_id IS NOT OLD.call_id;",
        ),
        "callops_summary_review_delete": (
            "AFTER DELETE ON calls_callreview",
            f"{insert_call} VALUES (OLD.call_id);",
        ),
    }
    statements = []
    for name, (when, body) in bodies.items():
        statements.append(f"DROP TRIGGER IF EXISTS {name}")
        statements.append(f"CREATE TRIGGER {name} {when} BEGIN {body} END")
    return statements


def install_triggers(db: Any = None, *, without: Sequence[str] = ()) -> None:
    """(Re)create the change-tracking triggers; harmless when they exist.

    They watch the columns of CALL_COLUMNS the calls table has (less `without`, for a migration
    about to drop one): an older migration installing them runs before a later one adds a
    column (analytics/migrations/0002 installs them again once calls_call has common_outcome),
    and a trigger naming a missing column breaks SQLite's changes to the table."""
    db = db or connection
    with db.cursor() as cursor:
        present = {c.name for c in db.introspection.get_table_description(cursor, "calls_call")}
        columns = [c for c in CALL_COLUMNS if c in present and c not in without]
        pg = db.vendor == "postgresql"
        for statement in _pg_statements(columns) if pg else _sqlite_statements(columns):
            cursor.execute(statement)


def drop_triggers(db: Any = None) -> None:
    db = db or connection
    with db.cursor() as cursor:
        for name in TRIGGERS:
            if db.vendor == "postgresql":
                table = "calls_call" if "_call_" in name else "calls_callreview"
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        if db.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS callops_summary_calls_changed()")
            cursor.execute("DROP FUNCTION IF EXISTS callops_summary_reviews_changed()")


def triggers_installed(db: Any = None) -> bool:
    """Whether every trigger is there (a SQLite table rebuilt by a migration loses its own)."""
    db = db or connection
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s) AND tgenabled <> 'D'",
                [list(TRIGGERS)],
            )
        else:
            marks = ", ".join(["%s"] * len(TRIGGERS))
            cursor.execute(
                f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",  # noqa: S608 (placeholders only)
                list(TRIGGERS),
            )
        return cursor.fetchone()[0] == len(TRIGGERS)
