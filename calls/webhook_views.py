"""Webhook endpoints: /webhooks/<vendor>/<account token>/, one per vendor account."""

from __future__ import annotations

import logging
import threading
import time
from typing import BinaryIO

from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.metrics import WebhookResult, count_webhook
from accounts.roles import public
from calls.webhook_health import tally_delivery
from calls.webhooks import webhook_store
from vendors.errors import WebhookRejected
from vendors.models import VendorAccount, VendorKind

logger = logging.getLogger(__name__)

# A call.ended with a long transcript is tens of KB; anything near this is not a webhook.
MAX_WEBHOOK_BYTES = 1024 * 1024


# Deliveries come in bursts for a handful of accounts: each process remembers an account for a
# few seconds instead of reading it for every delivery. A disabled account or a changed webhook
# secret therefore takes effect within ACCOUNT_CACHE_SECONDS.
ACCOUNT_CACHE_SECONDS = 10.0
_accounts: dict[tuple[str, str], tuple[float, VendorAccount | None]] = {}
_accounts_lock = threading.Lock()


def receiving_account(vendor: str, token: str) -> VendorAccount | None:
    now = time.monotonic()
    with _accounts_lock:
        cached = _accounts.get((vendor, token))
    if cached is not None and cached[0] > now:
        return cached[1]
    account = (
        VendorAccount.objects.only(
            "pk",
            "kind",
            "webhook_secret_encrypted",
            "previous_webhook_secret_encrypted",
            "previous_webhook_secret_until",
        )
        .filter(kind=vendor, webhook_token=token, is_active=True)
        .first()
    )
    with _accounts_lock:
        if len(_accounts) > 1000:  # unknown tokens must not grow this without bound
            _accounts.clear()
        _accounts[(vendor, token)] = (now + ACCOUNT_CACHE_SECONDS, account)
    return account


def _body_stream(request: HttpRequest, declared: str | None) -> HttpRequest | BinaryIO | None:
    """Where the body can be read from; None for a chunked body the server cannot give us.

    Django reads at most CONTENT_LENGTH bytes, 0 when it is missing, so a chunked delivery
    would look empty (and fail its signature). Servers that de-chunk the body and end the
    input stream with it (gunicorn, uWSGI, mod_wsgi) say so with `wsgi.input_terminated`;
    reading that stream to its end is then safe. Django's development server does not.
    """
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if declared is not None or not chunked:
        return request
    if not request.META.get("wsgi.input_terminated"):
        return None
    return request.META["wsgi.input"]


def _read_at_most(stream: HttpRequest | BinaryIO, limit: int) -> bytes:
    """Up to `limit` bytes, however the stream splits them, without reading further."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = stream.read(min(limit - size, 64 * 1024))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


@public
@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, vendor: str, token: str) -> HttpResponse:
    """Authenticated by the secret token in the URL, and by the vendor's signature when the
    account has a webhook secret. Answers fast: processing happens in a task."""
    account = receiving_account(vendor, token)
    if account is None:
        # The path's vendor is anyone's text: only a known kind becomes a metric label.
        count_webhook(
            vendor if vendor in VendorKind.values else "unknown", WebhookResult.UNKNOWN_ACCOUNT
        )
        raise Http404("No such webhook.")
    result, response = _receive(request, account)
    count_webhook(account.kind, result)
    return response


def _receive(request: HttpRequest, account: VendorAccount) -> tuple[str, HttpResponse]:
    """The delivery's result (for the metrics) and the answer to the vendor."""
    vendor = account.kind
    # Some servers (wsgiref, under runserver) pass a missing Content-Length as "".
    declared = request.headers.get("Content-Length") or None
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        return WebhookResult.BAD_REQUEST, JsonResponse(
            {"error": "The Content-Length is not a number."}, status=400
        )
    if int(declared or 0) > MAX_WEBHOOK_BYTES:
        return WebhookResult.TOO_LARGE, JsonResponse(
            {"error": "The body is too large."}, status=413
        )
    stream = _body_stream(request, declared)
    if stream is None:
        return WebhookResult.BAD_REQUEST, JsonResponse(
            {"error": "This server cannot read a chunked body: send a Content-Length."},
            status=411,
        )
    body = _read_at_most(stream, MAX_WEBHOOK_BYTES + 1)
    if len(body) > MAX_WEBHOOK_BYTES:
        return WebhookResult.TOO_LARGE, JsonResponse(
            {"error": "The body is too large."}, status=413
        )
    try:
        inbox_id = webhook_store(account=account, headers=request.headers, body=body)
    except WebhookRejected as exc:
        logger.warning("rejected a %s webhook for account %s: %s", vendor, account.pk, exc)
        tally_delivery(account_id=account.pk, duplicate=False)
        return WebhookResult.REJECTED, JsonResponse({"error": str(exc)}, status=401)
    except DatabaseError:
        logger.exception("could not store a %s webhook for account %s", vendor, account.pk)
        return WebhookResult.STORE_FAILED, JsonResponse(
            {"error": "Could not store the event; please retry."}, status=503
        )
    if inbox_id is None:
        tally_delivery(account_id=account.pk, duplicate=True)
    result = WebhookResult.DUPLICATE if inbox_id is None else WebhookResult.STORED
    return result, JsonResponse({"ok": True, "duplicate": inbox_id is None}, status=200)
