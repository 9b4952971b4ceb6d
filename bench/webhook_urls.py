"""callops' URLs plus the benchmark's two reference endpoints (never part of the product).

The minimal durable path does the durable work the real endpoint must, written the plainest
way: check the HMAC signature and its timestamp, insert the raw delivery into the same inbox
table (same unique dedupe key, same indexes) with ON CONFLICT DO NOTHING, and for a new row
kick the worker the same way (one drain message per burst, through the shared cache). What it
skips is listed in MINIMAL_SKIPS, which the benchmark prints.
"""

import hashlib
import hmac
import json
import os
import time

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from calls.webhooks import DRAIN_KEY, DRAIN_KEY_SECONDS
from dashboard.celery import app as celery_app
from dashboard.urls import urlpatterns as callops_urlpatterns

# The benchmark's account and its secret in plain text (the real endpoint finds the account by
# the URL's token and decrypts its secret).
ACCOUNT_ID = int(os.environ.get("BENCH_WEBHOOK_ACCOUNT_ID", "0"))
SECRET = os.environ.get("BENCH_WEBHOOK_SECRET", "").encode()
TOLERANCE_SECONDS = 300

MINIMAL_SKIPS = (
    "finding the account by the URL's token (the real endpoint caches it 10 s per process) and "
    "decrypting its secret (Fernet, every delivery)",
    "the Content-Length and size checks (413 over 1 MB, 411 for chunked bodies)",
    "replacing NUL and lone surrogates in the body (a C scan of an ASCII body, else a regex)",
    "the Prometheus delivery counter and the @require_POST/@public decorators",
    "rotated secrets (it knows one), Revrag's `t=` parsing beyond the one signature",
)

_INSERT = """
    INSERT INTO calls_webhookevent
        (vendor_account_id, dedupe_key, received_at, headers, body, status, event_type,
         vendor_call_id, attempts, error)
    VALUES (%s, %s, %s, %s, %s, 'pending', '', '', 0, '')
    ON CONFLICT (vendor_account_id, dedupe_key) DO NOTHING
    RETURNING id
"""
_SIGNED_HEADERS = ("X-Webhook-ID", "X-Webhook-Event", "X-Webhook-Timestamp", "X-Webhook-Signature")


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


@csrf_exempt
def minimal(request: HttpRequest) -> HttpResponse:
    body = request.body
    timestamp = request.headers.get("X-Webhook-Timestamp", "")
    signature = request.headers.get("X-Webhook-Signature", "").partition("v1=")[2]
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return HttpResponse(status=401)
    expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return HttpResponse(status=401)
    headers = {name.lower(): request.headers[name] for name in _SIGNED_HEADERS}
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                ACCOUNT_ID,
                headers["x-webhook-id"],
                timezone.now(),
                json.dumps(headers),
                body.decode("utf-8", errors="replace"),
            ],
        )
        row = cursor.fetchone()
    # Autocommit: the row is committed here, as the real endpoint's on_commit runs at once.
    if row is not None and cache.add(DRAIN_KEY, row[0], timeout=DRAIN_KEY_SECONDS):
        celery_app.send_task("calls.tasks.drain_webhooks")
    return HttpResponse(status=200)


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/minimal/", minimal),
    *callops_urlpatterns,
]
