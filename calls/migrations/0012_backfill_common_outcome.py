"""Give every stored call its common outcome (calls/outcome_backfill.py: set-based UPDATEs in
slices of 50,000 ids, each its own transaction, so a million calls never hold one long lock)."""

from django.db import migrations


def backfill(apps, schema_editor):
    from calls.outcome_backfill import backfill_common_outcomes

    backfill_common_outcomes(
        apps.get_model("calls", "Call"),
        apps.get_model("vendors", "VendorAccount"),
        apps.get_model("contacts", "DoNotCallEntry"),
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("calls", "0011_call_common_outcome"),
        ("vendors", "0007_ratebudget_boundary_counts"),
        ("contacts", "0009_opt_out_ledger"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
