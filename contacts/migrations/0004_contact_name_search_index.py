"""A trigram index for searching contacts by part of their name (PostgreSQL only).

The call log's search and the contacts list look contacts up with `name__icontains`, which
PostgreSQL runs as `UPPER(name::text) LIKE UPPER('%...%')`: without this index that is a scan
of every contact (16-22 ms at 100,000 contacts, more than the whole call log search may take,
see bench/bench_call_log.py); with it, well under a millisecond. pg_trgm is a trusted
extension (PostgreSQL 13+): the database owner may create it. SQLite keeps its plain scan.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEX_SQL = """
CREATE INDEX IF NOT EXISTS contact_name_trgm_idx ON contacts_contact
USING gin ((UPPER(name::text)) gin_trgm_ops)
"""


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS contact_name_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_customer_push")]

    operations = [TrigramExtension(), migrations.RunPython(create_index, drop_index)]
