"""The analytics summary's models now belong to analytics/ (analytics/migrations/0001): forget
them here without touching their tables."""


from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0001_initial'),
        ('dashboard', '0006_accounts_models_moved'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='calldaysummary',
                    name='agent',
                ),
                migrations.RemoveField(
                    model_name='calldaysummary',
                    name='campaign',
                ),
                migrations.RemoveField(
                    model_name='calldaysummary',
                    name='vendor_account',
                ),
                migrations.RemoveField(
                    model_name='callhoursummary',
                    name='agent',
                ),
                migrations.RemoveField(
                    model_name='callhoursummary',
                    name='campaign',
                ),
                migrations.RemoveField(
                    model_name='callhoursummary',
                    name='vendor_account',
                ),
                migrations.DeleteModel(
                    name='CallHourTotal',
                ),
                migrations.DeleteModel(
                    name='DurationDaySummary',
                ),
                migrations.DeleteModel(
                    name='DurationHourSummary',
                ),
                migrations.DeleteModel(
                    name='SummaryChange',
                ),
                migrations.DeleteModel(
                    name='SummaryState',
                ),
                migrations.DeleteModel(
                    name='CallDaySummary',
                ),
                migrations.DeleteModel(
                    name='CallHourSummary',
                ),
            ],
            database_operations=[],
        ),
    ]
