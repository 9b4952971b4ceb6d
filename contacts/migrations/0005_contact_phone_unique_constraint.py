"""Contact.phone_e164 unique through a UniqueConstraint instead of unique=True.

On PostgreSQL, unique=True also built contacts_contact_phone_e164_0dabd8f4_like, a
varchar_pattern_ops index for LIKE 'prefix%' that no query uses (the number search is
LIKE '%digits%') and that cost a million-row import 2-3 s. Here the existing unique
constraint is renamed and that index dropped: instant, where dropping and re-adding the
constraint would rebuild its index under an exclusive lock. SQLite has no such index, and its
schema editor rebuilds a table from the model state whenever a constraint changes, so only
the state moves there.
"""

from django.db import migrations, models

OLD_CONSTRAINT = "contacts_contact_phone_e164_key"
NEW_CONSTRAINT = "contact_phone_e164_unique"
LIKE_INDEX = "contacts_contact_phone_e164_0dabd8f4_like"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")
    schema_editor.execute(
        f"ALTER TABLE contacts_contact RENAME CONSTRAINT {OLD_CONSTRAINT} TO {NEW_CONSTRAINT}"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE contacts_contact RENAME CONSTRAINT {NEW_CONSTRAINT} TO {OLD_CONSTRAINT}"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} ON contacts_contact "
        "(phone_e164 varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0004_contact_name_search_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="phone_e164",
                    field=models.CharField(max_length=16, verbose_name="phone (E.164)"),
                ),
                migrations.AddConstraint(
                    model_name="contact",
                    constraint=models.UniqueConstraint(
                        fields=("phone_e164",), name=NEW_CONSTRAINT
                    ),
                ),
            ],
        ),
    ]
