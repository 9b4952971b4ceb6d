"""The analytics summary's tables move here from dashboard/ without copying data: they keep
their names (dashboard_callhoursummary, ...), which the triggers made by
dashboard/migrations/0005 and analytics/summary.py use. Only Django's record of which app owns
them changes (dashboard/migrations/0007 forgets them there), and their content types move."""


import django.db.models.deletion
from django.db import migrations, models


MOVED = (
    "summarystate",
    "summarychange",
    "callhoursummary",
    "calldaysummary",
    "callhourtotal",
    "durationhoursummary",
    "durationdaysummary",
)


def _relabel(apps, source: str, target: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not content_type.objects.filter(app_label=target, model=model).exists():
            content_type.objects.filter(app_label=source, model=model).update(app_label=target)


def move_content_types(apps, schema_editor) -> None:
    _relabel(apps, "dashboard", "analytics")


def move_content_types_back(apps, schema_editor) -> None:
    _relabel(apps, "analytics", "dashboard")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # The tables exist once dashboard's migrations up to here have run.
        ('dashboard', '0006_accounts_models_moved'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('calls', '0008_post_call_rules_and_steps'),
        ('campaigns', '0003_stopped_states_and_form_fields'),
        ('vendors', '0007_ratebudget_boundary_counts'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='SummaryState',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('time_zone', models.CharField(blank=True, max_length=64)),
                        ('rebuilt_at', models.DateTimeField(blank=True, null=True)),
                        ('refreshed_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'dashboard_summarystate',
                    },
                ),
                migrations.CreateModel(
                    name='CallHourTotal',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('hour', models.PositiveSmallIntegerField()),
                        ('calls', models.PositiveIntegerField()),
                    ],
                    options={
                        'db_table': 'dashboard_callhourtotal',
                        'indexes': [models.Index(fields=['day', 'hour'], name='callhourtotal_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='DurationDaySummary',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('slice', models.CharField(choices=[('all', 'All calls'), ('account', 'Vendor account'), ('agent', 'Agent'), ('campaign', 'Campaign')], max_length=8)),
                        ('member', models.BigIntegerField(null=True)),
                        ('bucket', models.PositiveIntegerField()),
                        ('calls', models.PositiveIntegerField()),
                    ],
                    options={
                        'db_table': 'dashboard_durationdaysummary',
                        'indexes': [models.Index(fields=['slice', 'day'], name='durationdaysummary_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='DurationHourSummary',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('slice', models.CharField(choices=[('all', 'All calls'), ('account', 'Vendor account'), ('agent', 'Agent'), ('campaign', 'Campaign')], max_length=8)),
                        ('member', models.BigIntegerField(null=True)),
                        ('bucket', models.PositiveIntegerField()),
                        ('calls', models.PositiveIntegerField()),
                        ('hour', models.PositiveSmallIntegerField()),
                    ],
                    options={
                        'db_table': 'dashboard_durationhoursummary',
                        'indexes': [models.Index(fields=['slice', 'day', 'hour'], name='durationhoursummary_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='SummaryChange',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('hour', models.DateTimeField(null=True)),
                        ('call_id', models.BigIntegerField(null=True)),
                    ],
                    options={
                        'db_table': 'dashboard_summarychange',
                        'indexes': [models.Index(fields=['hour'], name='summarychange_hour_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='CallDaySummary',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('state', models.CharField(max_length=10)),
                        ('outcome', models.CharField(blank=True, max_length=20)),
                        ('vendor_outcome', models.CharField(blank=True, max_length=64)),
                        ('calls', models.PositiveIntegerField()),
                        ('duration_count', models.PositiveIntegerField()),
                        ('duration_sum', models.BigIntegerField()),
                        ('reviewed', models.PositiveIntegerField()),
                        ('rated', models.PositiveIntegerField()),
                        ('rating_sum', models.PositiveIntegerField()),
                        ('agent', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='calls.agent')),
                        ('campaign', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaign')),
                        ('vendor_account', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='vendors.vendoraccount')),
                    ],
                    options={
                        'db_table': 'dashboard_calldaysummary',
                        'indexes': [models.Index(fields=['day'], name='calldaysummary_day_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='CallHourSummary',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('state', models.CharField(max_length=10)),
                        ('outcome', models.CharField(blank=True, max_length=20)),
                        ('vendor_outcome', models.CharField(blank=True, max_length=64)),
                        ('calls', models.PositiveIntegerField()),
                        ('duration_count', models.PositiveIntegerField()),
                        ('duration_sum', models.BigIntegerField()),
                        ('reviewed', models.PositiveIntegerField()),
                        ('rated', models.PositiveIntegerField()),
                        ('rating_sum', models.PositiveIntegerField()),
                        ('hour', models.PositiveSmallIntegerField()),
                        ('agent', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='calls.agent')),
                        ('campaign', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaign')),
                        ('vendor_account', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='vendors.vendoraccount')),
                    ],
                    options={
                        'db_table': 'dashboard_callhoursummary',
                        'indexes': [models.Index(fields=['day', 'hour'], name='callhoursummary_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
