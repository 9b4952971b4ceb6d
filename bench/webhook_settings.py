"""Settings and WSGI app for bench_webhook_ingest.py: callops plus two reference endpoints."""

from dashboard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhook_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
