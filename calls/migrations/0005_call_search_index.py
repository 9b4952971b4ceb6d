"""Full-text search over summaries and transcripts (PostgreSQL only).

The expression must be exactly `calls.selectors.call_search_vector()`, or PostgreSQL will not
use the index; tests/calls/test_selectors.py checks that a search's plan uses it. SQLite has
no such index: the call log falls back to a plain `icontains` there.
"""

from django.db import migrations

INDEX_SQL = """
CREATE INDEX IF NOT EXISTS call_search_idx ON calls_call USING gin (
    (to_tsvector('simple'::regconfig, COALESCE(summary, ''))
     || jsonb_to_tsvector('simple'::regconfig, transcript, '["string"]'))
)
"""


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS call_search_idx")


class Migration(migrations.Migration):
    dependencies = [("calls", "0004_sync_cursor")]

    operations = [migrations.RunPython(create_index, drop_index)]
