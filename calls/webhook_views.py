"""Webhook endpoints: /webhooks/<vendor>/<account token>/, one per vendor account."""

from __future__ import annotations

import logging
import threading
import time

from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls.webhooks import webhook_store
from dashboard.roles import public
from vendors.errors import WebhookRejected
from vendors.models import VendorAccount

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


@public
@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, vendor: str, token: str) -> HttpResponse:
    """Authenticated by the secret token in the URL, and by the vendor's signature when the
    account has a webhook secret. Answers fast: processing happens in a task."""
    account = receiving_account(vendor, token)
    if account is None:
        raise Http404("No such webhook.")
    declared = int(request.headers.get("Content-Length") or 0)
    if declared > MAX_WEBHOOK_BYTES:
        return JsonResponse({"error": "The body is too large."}, status=413)
    body = request.read(MAX_WEBHOOK_BYTES + 1)
    if len(body) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"error": "The body is too large."}, status=413)
    try:
        inbox_id = webhook_store(account=account, headers=request.headers, body=body)
    except WebhookRejected as exc:
        logger.warning("rejected a %s webhook for account %s: %s", vendor, account.pk, exc)
        return JsonResponse({"error": str(exc)}, status=401)
    except DatabaseError:
        logger.exception("could not store a %s webhook for account %s", vendor, account.pk)
        return JsonResponse({"error": "Could not store the event; please retry."}, status=503)
    return JsonResponse({"ok": True, "duplicate": inbox_id is None}, status=200)
