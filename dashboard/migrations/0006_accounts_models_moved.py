"""AuditEvent, ApiToken and TokenPrincipal now belong to accounts/ (accounts/migrations/0001): forget
them here without touching their tables."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0005_analytics_summary'),
        ('accounts', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='apitoken',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='auditevent',
                    name='actor',
                ),
                migrations.DeleteModel(
                    name='TokenPrincipal',
                ),
                migrations.DeleteModel(
                    name='ApiToken',
                ),
                migrations.DeleteModel(
                    name='AuditEvent',
                ),
            ],
            database_operations=[],
        ),
    ]
