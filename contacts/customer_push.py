"""Pushing contacts to a voice-platform account's customer import, in the background.

`POST /api/voice/customers/import` takes at most 100 customers a request and 5 requests a
minute. A push is written whole before anything is sent: every row with the exact payload it
sends, its batch and its place in the batch. A run then sends the batches from the first one
not yet recorded, each with the idempotency key `<push prefix>-batch-<n>`, and records the
vendor's per-row answer together with the batch count in one transaction. A worker killed
between the vendor's answer and that transaction leaves the batch unrecorded: the next run
sends it again, byte for byte with the same key, and the vendor answers from its record
instead of importing it twice.

Runs are claimed with a lease (a conditional UPDATE), so two workers never send the same push
at once; a run that finds an expired lease knows the previous one died and counts it. A spent
rate budget ends the run with the time to resume; the task re-enqueues itself for then, and a
beat sweeper resumes pushes whose message or worker was lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import (
    Contact,
    CustomerPush,
    CustomerPushRow,
    DoNotCallEntry,
    PushRowStatus,
    PushStatus,
)
from vendors.crypto import SecretUnreadable
from vendors.errors import (
    VendorConflict,
    VendorError,
    VendorRateLimited,
    VendorValidationError,
)
from vendors.models import VendorAccount, VendorKind
from vendors.services import vendor_client_for
from vendors.voice_platform.client import CUSTOMER_IMPORT_MAX, VoicePlatformClient
from vendors.voice_platform.schemas import ContactInput, CustomerImportResult

logger = logging.getLogger(__name__)

BATCH_SIZE = CUSTOMER_IMPORT_MAX
# The most contacts one push takes (1,000 batches: over three hours at 5 requests a minute).
MAX_PUSH_CONTACTS = 100_000
# A run that died this many times (killed, out of memory) ends the push as failed.
MAX_LOST_RUNS = 3
# Vendor failures that may pass (5xx, timeouts) tolerated before the push fails.
MAX_TRANSIENT_FAILURES = 10
# A run hands over to a fresh task after this long, far from the task time limits.
RUN_SECONDS = 60.0
# A push left without a lease and without news this long is resumed by the sweeper.
SWEEP_GRACE = timedelta(seconds=60)
ACCEPTED_VENDOR_STATUSES = frozenset({"created", "updated"})
WRITE_BATCH = 2000


class PushRefused(ValueError):
    """A push that cannot start; the message is for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def push_lease() -> timedelta:
    return timedelta(seconds=settings.CALLOPS_CUSTOMER_PUSH_LEASE_SECONDS)


def estimated_minutes(batches: int) -> int:
    """How long the vendor's 5 imports a minute make a push of this many batches last."""
    return max(1, -(-batches // 5)) if batches else 0


def customer_payload(contact: Contact) -> ContactInput:
    """One customer as the import takes it: phone, and name, email, metadata when known."""
    payload: ContactInput = {"phone": contact.phone_e164}
    if contact.name:
        payload["name"] = contact.name
    if contact.email:
        payload["email"] = contact.email
    if contact.metadata:
        payload["metadata"] = dict(contact.metadata)
    return payload


# ------------------------------------------------------------------------------- creating


def customer_push_create(
    *,
    account: VendorAccount,
    contacts: QuerySet[Contact],
    selection: str,
    created_by: Any = None,
    batch_size: int = BATCH_SIZE,
) -> CustomerPush:
    """Write the push and all its rows, then (on commit) start sending.

    Numbers on the do-not-call list are not sent to a platform that dials its customers:
    their rows say so.
    """
    if account.kind != VendorKind.VOICE_PLATFORM:
        raise PushRefused(f"{account.name} is not a voice-platform account.")
    if not account.is_active:
        raise PushRefused(f"{account.name} is disabled.")
    if not 1 <= batch_size <= CUSTOMER_IMPORT_MAX:
        raise ValueError(f"batch_size must be 1..{CUSTOMER_IMPORT_MAX}")
    count = contacts.count()
    if count == 0:
        raise PushRefused("No contacts are selected.")
    if count > MAX_PUSH_CONTACTS:
        raise PushRefused(
            f"{count} contacts is more than one push takes ({MAX_PUSH_CONTACTS}): "
            "narrow the search."
        )
    from contacts.tasks import push_customers  # tasks import this module

    with transaction.atomic():
        push = CustomerPush.objects.create(
            vendor_account=account,
            selection=selection[:300],
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        sent = skipped = 0
        pending: list[CustomerPushRow] = []
        checked = contacts.annotate(
            push_on_dnc=Exists(DoNotCallEntry.objects.filter(phone_e164=OuterRef("phone_e164")))
        ).order_by("pk")
        for contact in checked.iterator(chunk_size=WRITE_BATCH):
            row = CustomerPushRow(
                push=push, contact=contact, phone_e164=contact.phone_e164, name=contact.name
            )
            if contact.push_on_dnc:
                row.status = PushRowStatus.SKIPPED
                row.detail = "On the do-not-call list: not sent."
                skipped += 1
            else:
                row.batch_index, row.position = divmod(sent, batch_size)
                row.payload = customer_payload(contact)
                sent += 1
            pending.append(row)
            if len(pending) >= WRITE_BATCH:
                CustomerPushRow.objects.bulk_create(pending)
                pending = []
        CustomerPushRow.objects.bulk_create(pending)
        batches = -(-sent // batch_size)
        CustomerPush.objects.filter(pk=push.pk).update(
            total_rows=sent + skipped,
            batch_count=batches,
            skipped_count=skipped,
            # Nothing to send (everyone on the do-not-call list): done at once.
            **({"status": PushStatus.DONE, "finished_at": timezone.now()} if batches == 0 else {}),
        )
        if batches:
            push_customers.delay_on_commit(push.pk)
    push.refresh_from_db()
    return push


# -------------------------------------------------------------------------------- running


def _claim(push_id: int) -> CustomerPush | None:
    """Own the push for one lease, or None when it is finished or another run owns it."""
    now = timezone.now()
    push = CustomerPush.objects.filter(pk=push_id).first()
    if push is None or push.is_finished:
        return None
    if push.locked_until is not None and push.locked_until > now:
        return None
    # A lease nobody released: the run that took it died before finishing or handing over.
    lost = push.locked_until is not None
    claimed = CustomerPush.objects.filter(
        pk=push.pk,
        locked_until=push.locked_until,
        status__in=(PushStatus.PENDING, PushStatus.RUNNING),
    ).update(
        status=PushStatus.RUNNING,
        locked_until=now + push_lease(),
        waiting_until=None,
        started_at=Coalesce(F("started_at"), now),
        lost_runs=F("lost_runs") + (1 if lost else 0),
    )
    if not claimed:
        return None
    push = CustomerPush.objects.select_related("vendor_account").get(pk=push.pk)
    if push.lost_runs >= MAX_LOST_RUNS:
        _fail(
            push,
            f"The worker sending this push was lost {push.lost_runs} times (killed or out of "
            "memory); batches recorded so far stay as they are.",
        )
        return None
    if not push.vendor_account.is_active:
        _fail(push, f"{push.vendor_account.name} was disabled; the rest was not sent.")
        return None
    return push


def _release(push: CustomerPush, *, wait_seconds: float) -> None:
    CustomerPush.objects.filter(pk=push.pk).update(
        locked_until=None, waiting_until=timezone.now() + timedelta(seconds=wait_seconds)
    )


def _fail(push: CustomerPush, reason: str) -> None:
    CustomerPush.objects.filter(pk=push.pk).exclude(status=PushStatus.DONE).update(
        status=PushStatus.FAILED,
        error_message=reason[:500],
        finished_at=timezone.now(),
        locked_until=None,
        waiting_until=None,
    )


def _finish(push: CustomerPush) -> None:
    CustomerPush.objects.filter(pk=push.pk, status=PushStatus.RUNNING).update(
        status=PushStatus.DONE, finished_at=timezone.now(), locked_until=None, waiting_until=None
    )


def _row_outcome(result: CustomerImportResult | None) -> tuple[str, str]:
    """(callops status, detail) of one row from the vendor's answer about it."""
    if result is None:
        return PushRowStatus.REJECTED, "The voice platform did not report on this row."
    if result.status in ACCEPTED_VENDOR_STATUSES:
        return PushRowStatus.ACCEPTED, ""
    if result.status == "error":
        return PushRowStatus.REJECTED, result.detail or "Refused without a reason."
    return (
        PushRowStatus.REJECTED,
        result.detail or f"The voice platform answered “{result.status}” for this row.",
    )


def _record_batch(
    push: CustomerPush,
    index: int,
    rows: list[CustomerPushRow],
    results: list[CustomerImportResult] | None,
    *,
    refusal: str = "",
) -> bool:
    """Store the answer of batch `index` and count it done, in one transaction.

    `results` None means the vendor refused the whole batch (`refusal` says why). Returns False
    when another run recorded this batch first (nothing is written then).
    """
    by_index = {result.index: result for result in results or []}
    accepted = rejected = 0
    for row in rows:
        if results is None:
            row.status, row.detail, row.vendor_status = PushRowStatus.REJECTED, refusal, ""
        else:
            result = by_index.get(row.position)
            row.status, row.detail = _row_outcome(result)
            row.vendor_status = result.status[:20] if result else ""
            row.vendor_customer_id = (result.id or "")[:100] if result else ""
        row.detail = row.detail[:500]
        if row.status == PushRowStatus.ACCEPTED:
            accepted += 1
        else:
            rejected += 1
    with transaction.atomic():
        counted = CustomerPush.objects.filter(pk=push.pk, batches_done=index).update(
            batches_done=index + 1,
            accepted_count=F("accepted_count") + accepted,
            rejected_count=F("rejected_count") + rejected,
            transient_failures=0,
            locked_until=timezone.now() + push_lease(),
        )
        if not counted:
            transaction.set_rollback(True)
            return False
        CustomerPushRow.objects.bulk_update(
            rows, ["status", "detail", "vendor_status", "vendor_customer_id"]
        )
    return True


Clock = Callable[[], float]


def customer_push_run(*, push_id: int, clock: Clock = time.monotonic) -> float | None:
    """Send the batches not yet recorded. Returns the seconds after which a next run should
    go on (rate budget spent, a passing vendor failure, or this run's time is up), or None
    when there is nothing more for a run to do (done, failed, or another run owns it)."""
    push = _claim(push_id)
    if push is None:
        return None
    started = clock()
    try:
        client = vendor_client_for(push.vendor_account)
    except SecretUnreadable:
        _fail(push, "The account's key cannot be decrypted with the configured keys.")
        return None
    assert isinstance(client, VoicePlatformClient)  # noqa: S101 - checked when created
    with client:
        while True:
            push.refresh_from_db(fields=["batches_done", "batch_count", "transient_failures"])
            index = push.batches_done
            if index >= push.batch_count:
                _finish(push)
                return None
            if clock() - started > RUN_SECONDS:
                _release(push, wait_seconds=0)
                return 0.0
            rows = list(push.rows.filter(batch_index=index).order_by("position"))
            try:
                results = client.import_customers(
                    [row.payload for row in rows], idempotency_key=push.batch_key(index)
                )
            except VendorRateLimited as exc:
                wait = _seconds_until(exc.retry_at)
                _release(push, wait_seconds=wait)
                return wait
            except (VendorValidationError, VendorConflict) as exc:
                # The vendor refused this batch as a whole: its rows say why, the rest goes on.
                if not _record_batch(
                    push, index, rows, None, refusal=f"Batch refused: {exc.message}"
                ):
                    return None
                continue
            except VendorError as exc:
                return _vendor_failed(push, exc)
            if not _record_batch(push, index, rows, results):
                return None


def _seconds_until(moment: datetime | None) -> float:
    if moment is None:
        return 15.0
    return max(1.0, (moment - timezone.now()).total_seconds())


def _vendor_failed(push: CustomerPush, error: VendorError) -> float | None:
    if error.permanent:
        _fail(push, f"The voice platform refused the import: {error.message}")
        return None
    failures = push.transient_failures + 1
    if failures > MAX_TRANSIENT_FAILURES:
        _fail(push, f"The voice platform kept failing ({failures} times): {error.message}")
        return None
    wait = min(300.0, 15.0 * failures)
    CustomerPush.objects.filter(pk=push.pk).update(
        transient_failures=failures,
        error_message=f"Will try again: {error.message}"[:500],
        locked_until=None,
        waiting_until=timezone.now() + timedelta(seconds=wait),
    )
    logger.warning("Customer push %s: %s (try %d)", push.pk, error, failures)
    return wait


def customer_pushes_to_resume(*, now: datetime | None = None) -> list[int]:
    """Pushes whose run died (expired lease) or whose enqueued message was lost."""
    now = now or timezone.now()
    quiet_since = now - SWEEP_GRACE
    return list(
        CustomerPush.objects.filter(status__in=(PushStatus.PENDING, PushStatus.RUNNING))
        .filter(
            Q(locked_until__isnull=False, locked_until__lte=now)
            | Q(locked_until__isnull=True, waiting_until__isnull=True, created_at__lte=quiet_since)
            | Q(locked_until__isnull=True, waiting_until__lte=quiet_since)
        )
        .values_list("pk", flat=True)[:100]
    )


def rows_of(push: CustomerPush, *, status: str = "") -> QuerySet[CustomerPushRow]:
    rows = push.rows.select_related("contact")
    return rows.filter(status=status) if status else rows


def describe_selection(
    ids: Iterable[int] | None, search: str, count: int, *, filtered: bool = False
) -> str:
    contacts = f"{count} contact{'s' if count != 1 else ''}"
    if ids is not None:
        return f"{count} selected contact{'s' if count != 1 else ''}"
    if search:
        return f"all {contacts} matching “{search}”"
    return f"all {contacts} matching the filters" if filtered else f"all {contacts}"
