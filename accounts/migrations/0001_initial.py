"""AuditEvent, ApiToken and TokenPrincipal move here from dashboard/ without copying data: their
tables keep their names (dashboard_auditevent, dashboard_apitoken), only Django's record of
which app owns them changes (dashboard/migrations/0006 forgets them there). The content types
move too, so permissions and admin log entries keep pointing at the same rows."""

import django.contrib.auth.models
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MOVED = ("auditevent", "apitoken", "tokenprincipal")


def _relabel(apps, source: str, target: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not content_type.objects.filter(app_label=target, model=model).exists():
            content_type.objects.filter(app_label=source, model=model).update(app_label=target)


def move_content_types(apps, schema_editor) -> None:
    _relabel(apps, "dashboard", "accounts")


def move_content_types_back(apps, schema_editor) -> None:
    _relabel(apps, "accounts", "dashboard")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # The tables exist once dashboard's migrations up to here have run.
        ('dashboard', '0005_analytics_summary'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('auth', '0012_alter_user_first_name_max_length'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='TokenPrincipal',
                    fields=[
                    ],
                    options={
                        'proxy': True,
                        'indexes': [],
                        'constraints': [],
                    },
                    bases=('auth.user',),
                    managers=[
                        ('objects', django.contrib.auth.models.UserManager()),
                    ],
                ),
                migrations.CreateModel(
                    name='ApiToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('role', models.CharField(choices=[('operator', 'Operator'), ('manager', 'Manager'), ('admin', 'Admin')], max_length=20)),
                        ('prefix', models.CharField(editable=False, max_length=16, unique=True)),
                        ('secret_hash', models.CharField(editable=False, max_length=64)),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'dashboard_apitoken',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('actor_label', models.CharField(blank=True, max_length=150)),
                        ('action', models.CharField(choices=[('login_succeeded', 'Login succeeded'), ('login_failed', 'Login failed'), ('logout', 'Logout'), ('vendor_key_created', 'Vendor key created'), ('vendor_key_rotated', 'Vendor key rotated'), ('vendor_account_updated', 'Vendor connection changed'), ('vendor_account_disabled', 'Vendor connection disabled'), ('vendor_account_enabled', 'Vendor connection enabled'), ('user_created', 'User created'), ('user_deactivated', 'User deactivated'), ('user_reactivated', 'User reactivated'), ('role_changed', 'Role changed'), ('token_created', 'API token created'), ('token_revoked', 'API token revoked'), ('call_triggered', 'Call triggered'), ('campaign_launched', 'Campaign launched'), ('campaign_stopped', 'Campaign stopped'), ('webhook_replayed', 'Webhook replayed'), ('dnc_added', 'Number added to do-not-call list'), ('dnc_removed', 'Number removed from do-not-call list')], db_index=True, max_length=40)),
                        ('target', models.CharField(blank=True, max_length=200)),
                        ('detail', models.JSONField(blank=True, default=dict)),
                        ('ip_address', models.GenericIPAddressField(blank=True, null=True)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'dashboard_auditevent',
                        'ordering': ['-at', '-id'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
