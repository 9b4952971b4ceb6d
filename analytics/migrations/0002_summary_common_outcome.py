"""The summary is grouped by the common outcome too (the outcome charts speak it).

Its rows were summed without it, so the summary is started over: the triggers are put back
with the new column among those they watch, and the state forgets its time zone, which makes
the next refresh (beat, every minute) rebuild it; the page reads the calls table until then,
so its figures stay exact meanwhile."""

from django.db import migrations, models


def start_over(apps, schema_editor):
    from analytics.summary_triggers import install_triggers

    install_triggers(schema_editor.connection)
    apps.get_model("analytics", "SummaryState").objects.update(time_zone="")


def back(apps, schema_editor):
    """Before calls' migrations drop the column, the triggers must stop naming it."""
    from analytics.summary_triggers import install_triggers

    install_triggers(schema_editor.connection, without=("common_outcome",))
    apps.get_model("analytics", "SummaryState").objects.update(time_zone="")


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("calls", "0013_common_outcome_index_and_rules"),
    ]

    operations = [
        migrations.AddField(
            model_name="calldaysummary",
            name="common_outcome",
            field=models.CharField(blank=True, db_default="", max_length=20),
        ),
        migrations.AddField(
            model_name="callhoursummary",
            name="common_outcome",
            field=models.CharField(blank=True, db_default="", max_length=20),
        ),
        migrations.RunPython(start_over, back),
    ]
