import os

from django.core.wsgi import get_wsgi_application

from dashboard.checks import refuse_to_start_with_unreadable_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

application = get_wsgi_application()
# gunicorn runs no system checks: a worker that cannot read the secrets fails to boot instead.
refuse_to_start_with_unreadable_secrets()
