"""The searched document becomes a stored column (PostgreSQL only).

Before, the call log's search computed each call's document (summary and transcript words)
while it ran: fine with the GIN index for a rare word, but for a common one ("pricing" is in a
third of the calls) PostgreSQL walks the log's index newest first and computed the document of
every call it passed, about 0.1 ms each. Stored, testing a call costs microseconds
(bench/bench_call_log.py: search SQL / keyset page SQL).

PostgreSQL keeps the column up to date on every write, so nothing in callops writes it, and the
model does not declare it: Django never reads it (it is only tested by the search). Adding it
rewrites the calls table once, under a lock: about a minute per million calls on 2 cores.
SQLite has no such column: the call log falls back to a plain `icontains` there.
"""

from django.db import migrations

ADD_COLUMN_SQL = """
ALTER TABLE calls_call ADD COLUMN IF NOT EXISTS search_document tsvector
    GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, COALESCE(summary, ''))
        || jsonb_to_tsvector('simple'::regconfig, transcript, '["string"]')
    ) STORED
"""
OLD_INDEX_SQL = """
CREATE INDEX IF NOT EXISTS call_search_idx ON calls_call USING gin (
    (to_tsvector('simple'::regconfig, COALESCE(summary, ''))
     || jsonb_to_tsvector('simple'::regconfig, transcript, '["string"]'))
)
"""


def store_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(ADD_COLUMN_SQL)
    schema_editor.execute("DROP INDEX IF EXISTS call_search_idx")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS call_search_idx ON calls_call USING gin (search_document)"
    )


def compute_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS call_search_idx")
    schema_editor.execute("ALTER TABLE calls_call DROP COLUMN IF EXISTS search_document")
    schema_editor.execute(OLD_INDEX_SQL)


class Migration(migrations.Migration):
    dependencies = [("calls", "0015_callbacks")]

    operations = [migrations.RunPython(store_document, compute_document)]
