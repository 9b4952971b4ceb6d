"""A covering index for the analytics page (PostgreSQL only).

Every analytics query filters calls on a `created_at` range and reads only the columns
included here, so PostgreSQL answers from the index alone (an index-only scan) instead of
visiting the wide call rows (summary, transcript, payloads). `id` is included because the
queries count it. bench/bench_analytics.py measures the page with and without it.

Built CONCURRENTLY so a production table keeps taking writes while it is built.
"""

from django.db import migrations

INDEX_SQL = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_analytics_idx ON calls_call (created_at)
INCLUDE (id, state, outcome, vendor_outcome, duration_seconds, vendor_account_id, agent_id,
         campaign_id, contact_id)
"""


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS call_analytics_idx")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("calls", "0006_call_review")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
