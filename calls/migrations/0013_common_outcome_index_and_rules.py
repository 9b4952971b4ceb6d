"""Index the common outcome (the call log's filter), let the analytics covering index carry it,
and translate stored post-call rules from the old outcome names to the common ones. Indexes are
built CONCURRENTLY on PostgreSQL (so the migration is not atomic)."""

from django.db import migrations, models

ANALYTICS_INDEX_SQL = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_analytics_idx ON calls_call (created_at)
INCLUDE (id, state, outcome, vendor_outcome, common_outcome, duration_seconds, vendor_account_id,
         agent_id, campaign_id, contact_id)
"""
OLD_ANALYTICS_INDEX_SQL = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_analytics_idx ON calls_call (created_at)
INCLUDE (id, state, outcome, vendor_outcome, duration_seconds, vendor_account_id, agent_id,
         campaign_id, contact_id)
"""


OUTCOME_INDEX = models.Index(
    fields=["common_outcome", "-created_at", "-id"], name="call_common_outcome_idx"
)


def create_outcome_index(apps, schema_editor):
    """CONCURRENTLY on PostgreSQL: a million calls keep taking webhooks while it is built."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS call_common_outcome_idx "
            "ON calls_call (common_outcome, created_at DESC, id DESC)"
        )
    else:
        schema_editor.add_index(apps.get_model("calls", "Call"), OUTCOME_INDEX)


def drop_outcome_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS call_common_outcome_idx")
    else:
        schema_editor.remove_index(apps.get_model("calls", "Call"), OUTCOME_INDEX)


def _rebuild_analytics_index(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS call_analytics_idx")
        schema_editor.execute(sql)


def analytics_index_with_outcome(apps, schema_editor):
    _rebuild_analytics_index(schema_editor, ANALYTICS_INDEX_SQL)


def analytics_index_without_outcome(apps, schema_editor):
    _rebuild_analytics_index(schema_editor, OLD_ANALYTICS_INDEX_SQL)


def translate_rule_outcomes(apps, schema_editor):
    """Each old name becomes the common names it covers (calls.outcomes.OLD_NAMES): a rule for
    "Not picked up" now says "No answer", one for "Callee hung up" says "Completed" and
    "Callback requested"."""
    from calls.outcomes import OLD_NAMES

    rule_model = apps.get_model("calls", "PostCallRule")
    for rule in rule_model.objects.exclude(outcomes=[]):
        translated = []
        for name in rule.outcomes:
            for new in OLD_NAMES.get(name, (name,)):
                if str(new) not in translated:
                    translated.append(str(new))
        if translated != rule.outcomes:
            rule.outcomes = translated
            rule.save(update_fields=["outcomes"])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("calls", "0012_backfill_common_outcome")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="call", index=OUTCOME_INDEX)],
            database_operations=[
                migrations.RunPython(create_outcome_index, drop_outcome_index, elidable=False)
            ],
        ),
        migrations.RunPython(
            analytics_index_with_outcome, analytics_index_without_outcome, elidable=False
        ),
        migrations.RunPython(translate_rule_outcomes, migrations.RunPython.noop),
    ]
