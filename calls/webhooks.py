"""The webhook inbox: store every delivery raw and fast, then process it in a task.

Receiving does the least that is safe: verify the signature over the raw bytes, insert the raw
event under a unique dedupe key (ON CONFLICT DO NOTHING), enqueue processing on commit.
Parsing and validating the payload happen in the task, so a slow or odd payload never makes a
vendor wait or retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from calls import enqueue
from calls.models import Call, WebhookEvent, WebhookStatus
from calls.vendor_calls import updates_from_webhook
from vendors.errors import WebhookRejected
from vendors.inbound import parse_delivery, verify_delivery
from vendors.models import VendorAccount, VendorKind
from vendors.text import storable_text

logger = logging.getLogger(__name__)

# Headers worth keeping with the raw body (signatures, ids, timestamps, event names).
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-webhook-id",
    "x-webhook-event",
    "x-webhook-timestamp",
    "x-webhook-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-revont-signature",
    "x-request-id",
)


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    lowered = {name.lower(): value for name, value in headers.items()}
    return {name: lowered[name] for name in KEPT_HEADERS if name in lowered}


def dedupe_key_for(event_id: str | None, body: bytes) -> str:
    """The vendor's event id when it sends one, else the body's hash (same body = same event)."""
    return event_id[:200] if event_id else "sha256:" + hashlib.sha256(body).hexdigest()


_INSERT = """
    INSERT INTO calls_webhookevent
        (vendor_account_id, dedupe_key, received_at, headers, body, status, event_type,
         vendor_call_id, attempts, error)
    VALUES (%s, %s, %s, %s, %s, 'pending', '', '', 0, '')
    ON CONFLICT (vendor_account_id, dedupe_key) DO NOTHING
    RETURNING id
"""


def webhook_store(*, account: VendorAccount, headers: Mapping[str, str], body: bytes) -> int | None:
    """Verify and store one delivery. Returns the new inbox id, or None for a duplicate.

    Raises vendors.errors.WebhookRejected when the signature or timestamp does not verify;
    nothing is stored then.
    """
    event_id = verify_delivery(account, headers, body)
    key = dedupe_key_for(event_id, body)
    # One statement, atomic on its own: no BEGIN/COMMIT round trips around it. Outside a
    # transaction the kick below runs at once, after the row is committed.
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                account.pk,
                key,
                timezone.now(),
                json.dumps(kept_headers(headers)),
                # Bytes that are not UTF-8, and NUL (no PostgreSQL text holds it), become
                # U+FFFD: such a body is not JSON anyway and fails visibly in the inbox.
                storable_text(body.decode("utf-8", errors="replace")),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    inbox_id = int(row[0])
    transaction.on_commit(lambda: _kick_processing(inbox_id))
    return inbox_id


def _enqueue_processing(inbox_id: int) -> None:
    enqueue.process_webhook(inbox_id)


# While a drain is queued or starting, new deliveries need no message of their own: the drain
# deletes this key *before* it looks for pending rows, so any row committed before a failed
# `cache.add` is seen by that drain. If a drain message is lost, the key expires and the next
# delivery (or the sweeper) starts another.
DRAIN_KEY = "callops:webhook-drain-queued"
DRAIN_KEY_SECONDS = 10


def _kick_processing(inbox_id: int) -> None:
    """Have a worker process this delivery: one drain message per burst when the cache is
    shared by every process (Redis), one message per delivery otherwise."""
    if not settings.CALLOPS_SHARED_CACHE:
        _enqueue_processing(inbox_id)
        return
    if cache.add(DRAIN_KEY, inbox_id, timeout=DRAIN_KEY_SECONDS):
        enqueue.drain_webhooks()


def webhook_drain(*, batch_size: int = 100, max_batches: int = 50) -> int:
    """Process pending deliveries oldest first until none is left; returns how many."""
    cache.delete(DRAIN_KEY)
    done = 0
    for _batch in range(max_batches):
        # New deliveries only: one whose attempt failed waits for the sweeper, so it is retried
        # once a minute rather than at the head of every drain.
        inbox_ids = list(
            WebhookEvent.objects.filter(status=WebhookStatus.PENDING, attempts=0)
            .order_by("received_at", "id")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not inbox_ids:
            return done
        for inbox_id in inbox_ids:
            _process_one_of_many(inbox_id)
        done += len(inbox_ids)
    # Still more after max_batches: let another drain continue rather than hog this worker.
    enqueue.drain_webhooks()
    return done


def _process_one_of_many(inbox_id: int) -> None:
    try:
        webhook_process(inbox_id=inbox_id)
    except Exception:  # noqa: BLE001 (e.g. the database refused even the failure note)
        logger.exception("webhook %s could not be processed; the sweeper retries it", inbox_id)
        # The row may be left with no attempt counted: mark it tried, so this drain and the
        # next one move past it and the sweeper counts its attempts.
        WebhookEvent.objects.filter(pk=inbox_id, attempts=0).update(attempts=1)


def _enqueue_record_refresh(account_id: int, record_id: str) -> None:
    enqueue.refresh_revont_record(account_id, record_id)


# A delivery whose processing raises (an unexpected payload, a bug, the database refusing a
# value) is retried by the sweeper about once a minute, then failed: an admin sees it in the
# webhook inbox with its error and can replay it once it is fixed.
MAX_WEBHOOK_ATTEMPTS = 3


def webhook_process(*, inbox_id: int) -> str:
    """Apply one stored delivery. Safe to run twice at once: the row is locked (skip_locked).

    Never raises for a bad delivery: the row keeps the attempt and the error instead, so one
    poison event cannot stop the events behind it.
    """
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .select_related("vendor_account")
            .filter(pk=inbox_id)
            .exclude(status=WebhookStatus.PROCESSED)
            .first()
        )
        if event is None:
            return "skipped"
        event.attempts += 1
        try:
            # A savepoint: whatever the failed attempt wrote is undone, the attempt is kept.
            with transaction.atomic():
                status, error = _apply_delivery(event)
        except Exception as exc:  # noqa: BLE001 (kept on the row; the next event must go on)
            logger.exception("webhook %s failed on attempt %s", event.pk, event.attempts)
            gave_up = event.attempts >= MAX_WEBHOOK_ATTEMPTS
            error = storable_text(f"{type(exc).__name__}: {exc}")
            if gave_up:
                error += f" (gave up after {event.attempts} attempts)"
            _finish(event, WebhookStatus.FAILED if gave_up else WebhookStatus.PENDING, error=error)
            return event.status
        _finish(event, status, error=error)
        return event.status


def _apply_delivery(event: WebhookEvent) -> tuple[str, str]:
    """The event's new status and error once its news is applied to its calls."""
    from calls.services import call_apply_update

    if event.vendor_account.kind == VendorKind.CALLCOV:
        return _process_analysis_results(event)
    try:
        updates = updates_from_webhook(
            event.vendor_account, event.headers, event.body.encode("utf-8")
        )
    except Exception as exc:  # noqa: BLE001 (reading is deterministic: no point retrying)
        logger.warning("webhook %s could not be read: %s", event.pk, exc)
        return WebhookStatus.FAILED, storable_text(f"{type(exc).__name__}: {exc}")
    status = WebhookStatus.PROCESSED
    for update in updates:
        event.event_type = update.event_type[:50]
        event.vendor_call_id = update.vendor_call_id[:100]
        if update.call is None:
            transaction.on_commit(
                partial(_enqueue_record_refresh, event.vendor_account_id, update.vendor_call_id)
            )
            continue
        call = Call.objects.filter(
            vendor_account=event.vendor_account, vendor_call_id=update.vendor_call_id
        ).first()
        if call is None:
            # The vendor may answer the webhook before our API call has stored its id:
            # keep the event; it is replayed when a call takes this id.
            status = WebhookStatus.UNMATCHED
            continue
        event.call = call
        call_apply_update(call_id=call.pk, update=update.call, source="webhook")
    return status, ""


def _process_analysis_results(event: WebhookEvent) -> tuple[str, str]:
    """CallCov posts a whole analysis object: it completes a post-call analysis step."""
    from calls.post_call import analysis_result_apply

    try:
        deliveries = parse_delivery(event.vendor_account, event.headers, event.body.encode("utf-8"))
    except WebhookRejected as exc:
        return WebhookStatus.FAILED, storable_text(str(exc))
    status = WebhookStatus.PROCESSED
    for delivery in deliveries:
        analysis = delivery.payload
        event.event_type = delivery.type[:50]
        # The analysis id stands in for a call id: an early result waits for its step by it.
        event.vendor_call_id = analysis.id[:100]
        if not analysis_result_apply(account=event.vendor_account, analysis=analysis):
            status = WebhookStatus.UNMATCHED
    return status, ""


def _finish(event: WebhookEvent, status: str, *, error: str = "") -> None:
    event.status = status
    event.error = error
    if status != WebhookStatus.PENDING:
        event.processed_at = timezone.now()
    event.save()


def unmatched_webhooks_for(*, account_id: int, vendor_call_id: str) -> list[int]:
    return list(
        WebhookEvent.objects.filter(
            vendor_account_id=account_id,
            vendor_call_id=vendor_call_id,
            status=WebhookStatus.UNMATCHED,
        ).values_list("pk", flat=True)
    )


def webhook_replay(*, inbox_id: int) -> None:
    """An admin asks to process a failed or unmatched event again."""
    WebhookEvent.objects.filter(pk=inbox_id).exclude(status=WebhookStatus.PROCESSED).update(
        status=WebhookStatus.PENDING, error=""
    )
    transaction.on_commit(lambda: _enqueue_processing(inbox_id))


def pending_webhooks(*, older_than_seconds: int = 60) -> list[int]:
    """Inbox rows still pending a while after arrival: the process died between commit and
    enqueue, or the message was lost. The sweeper enqueues them again."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        WebhookEvent.objects.filter(status=WebhookStatus.PENDING, received_at__lte=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:500]
    )
