"""Settings and WSGI app for bench_webhook_ingest.py: callops plus two reference endpoints."""

import os

from dashboard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhook_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
# --trace: where each request's time goes (bench/webhook_trace.py), first in the chain.
TRACE = bool(os.environ.get("BENCH_WEBHOOK_TRACE"))
if TRACE:
    MIDDLEWARE = ["bench.webhook_trace.trace_middleware", *MIDDLEWARE]  # noqa: F405

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

if TRACE:
    from bench.webhook_trace import install

    install()
