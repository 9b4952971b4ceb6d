"""The change-tracking triggers are put back on SQLite, where calls' migration 0017 rebuilt
calls_call (a column with a database default is added by copying the table) and the rebuild
dropped the triggers the table carried. PostgreSQL adds the column in place and keeps them.

The summary refresh would notice and put them back itself, rebuilding the summary; done here,
a new database starts with them. A database that ran without them since 0017 may have missed
changes, so its summary is started over (the next refresh rebuilds it; the page reads the calls
table until then)."""

from django.db import migrations


def put_back(apps, schema_editor):
    from analytics.summary_triggers import install_triggers, triggers_installed

    if triggers_installed(schema_editor.connection):
        return
    install_triggers(schema_editor.connection)
    apps.get_model("analytics", "SummaryState").objects.update(time_zone="")


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_summary_common_outcome"),
        ("calls", "0017_call_unsent_attempts"),
    ]

    operations = [migrations.RunPython(put_back, migrations.RunPython.noop)]
