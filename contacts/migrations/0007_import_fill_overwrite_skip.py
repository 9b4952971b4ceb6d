"""Imports choose fill (the new default), overwrite or skip for numbers already stored, and
count unchanged contacts and blank rows; the contacts an import changes are kept with their
changed fields.

Imports that ran before with "merge" overwrote stored values: they are marked "overwrite".
Their skipped_count becomes repeated_count: it counted the rows of a number repeated in the
file, and (with skip) the stored contacts left alone, which were not counted apart.
"""

from django.db import migrations, models
import django.db.models.deletion


def merge_was_overwrite(apps, schema_editor):
    ContactImport = apps.get_model("contacts", "ContactImport")
    ContactImport.objects.filter(duplicates="merge").update(duplicates="overwrite")


def overwrite_was_merge(apps, schema_editor):
    ContactImport = apps.get_model("contacts", "ContactImport")
    ContactImport.objects.exclude(duplicates="skip").update(duplicates="merge")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0006_contactimport_data_lz4")]

    operations = [
        migrations.AlterField(
            model_name="contactimport",
            name="duplicates",
            field=models.CharField(
                choices=[
                    ("fill", "Fill empty fields only: keep every value already stored"),
                    ("overwrite", "Overwrite: the file's non-empty values replace the stored ones"),
                    ("skip", "Skip: leave the stored contact exactly as it is"),
                ],
                default="fill",
                max_length=10,
            ),
        ),
        migrations.RunPython(merge_was_overwrite, overwrite_was_merge),
        migrations.RenameField(
            model_name="contactimport", old_name="skipped_count", new_name="repeated_count"
        ),
        migrations.AddField(
            model_name="contactimport",
            name="unchanged_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="contactimport",
            name="blank_row_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="ContactImportUpdate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("phone_e164", models.CharField(max_length=16)),
                ("changes", models.JSONField(default=dict)),
                (
                    "contact_import",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="updates",
                        to="contacts.contactimport",
                    ),
                ),
            ],
            options={"ordering": ["contact_import", "phone_e164", "id"]},
        ),
    ]
