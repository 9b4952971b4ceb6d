"""Celery tasks for calls: thin, they take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from calls import callback_dial, conversation_metrics, post_call, revont_import, services, webhooks
from vendors.errors import VendorError, VendorNotFound
from vendors.models import CALLING_KINDS, VendorAccount, VendorKind

# A message redelivered more often than this (worker killed each time) is given up on; the
# call's own dispatch_attempts counter turns that into a failed call with a reason.
MAX_TASK_RETRIES = 20


@shared_task(bind=True, max_retries=MAX_TASK_RETRIES)
def dispatch_call(self, call_id: int) -> None:
    try:
        services.call_dispatch(call_id=call_id)
    except services.RetryLater as later:
        raise self.retry(countdown=later.seconds) from None


@shared_task
def sync_call(call_id: int) -> None:
    services.call_sync(call_id=call_id)


@shared_task
def sync_due_calls() -> int:
    """Beat: poll calls that are overdue for news (claimed, so overlapping runs share work)."""
    claimed = services.calls_due_for_sync()
    for call_id in claimed:
        sync_call.delay(call_id)
    return len(claimed)


@shared_task
def redispatch_stuck_calls() -> int:
    """Beat: pending calls whose dispatch message was lost or whose worker died."""
    call_ids = services.pending_calls_to_redispatch()
    for call_id in call_ids:
        dispatch_call.delay(call_id)
    return len(call_ids)


@shared_task
def process_webhook(inbox_id: int) -> str:
    return webhooks.webhook_process(inbox_id=inbox_id)


@shared_task
def drain_webhooks() -> int:
    return webhooks.webhook_drain()


@shared_task
def sweep_pending_webhooks() -> int:
    """Beat: inbox rows stored but never processed (the enqueue after commit was lost)."""
    inbox_ids = webhooks.pending_webhooks()
    for inbox_id in inbox_ids:
        process_webhook.delay(inbox_id)
    return len(inbox_ids)


@shared_task
def sync_agents(account_id: int) -> int:
    account = VendorAccount.objects.get(pk=account_id)
    return services.agents_sync(account=account)


@shared_task
def sync_all_agents() -> int:
    """Beat: refresh the agents of every active calling account."""
    account_ids = list(
        VendorAccount.objects.filter(is_active=True, kind__in=CALLING_KINDS).values_list(
            "pk", flat=True
        )
    )
    for account_id in account_ids:
        sync_agents.delay(account_id)
    return len(account_ids)


@shared_task
def import_revont_calls(account_id: int) -> int:
    account = VendorAccount.objects.get(pk=account_id)
    return revont_import.revont_import(account=account)


@shared_task
def import_all_revont_calls() -> int:
    """Beat: import new Revont records for every active Revont account."""
    account_ids = list(
        VendorAccount.objects.filter(is_active=True, kind=VendorKind.REVONT).values_list(
            "pk", flat=True
        )
    )
    for account_id in account_ids:
        import_revont_calls.delay(account_id)
    return len(account_ids)


@shared_task(bind=True, max_retries=5)
def refresh_revont_record(self, account_id: int, record_id: str) -> None:
    account = VendorAccount.objects.get(pk=account_id)
    try:
        revont_import.revont_record_refresh(account=account, record_id=record_id)
    except VendorNotFound:
        # Revont lists a call only once it has ended; the import picks it up then.
        return
    except VendorError as exc:
        if exc.permanent:
            raise
        raise self.retry(countdown=30) from None


@shared_task
def plan_post_call(call_id: int) -> int:
    """A call ended: match the post-call rules once and write its steps."""
    return post_call.post_call_plan(call_id=call_id)


@shared_task
def run_post_call(call_id: int) -> int:
    """Act on the call's post-call steps that are due (claimed, so two runs share the work)."""
    return post_call.post_call_run(call_id=call_id)


@shared_task
def advance_post_call() -> int:
    """Beat: plan ended calls whose planning was lost, and run steps that are due: retries,
    results to poll, and steps a dead worker left in flight."""
    for call_id in post_call.unplanned_ended_calls():
        plan_post_call.delay(call_id)
    call_ids = post_call.calls_with_due_steps()
    for call_id in call_ids:
        run_post_call.delay(call_id)
    return len(call_ids)


@shared_task
def measure_conversation(call_id: int) -> bool:
    """A call's transcript is final: measure the conversation once (recomputable by the
    recompute_conversation_metrics command)."""
    return conversation_metrics.conversation_measure(call_id=call_id)


@shared_task
def dial_due_callbacks() -> int:
    """Beat: dial the callbacks of single calls that are due (campaigns dial their own)."""
    return callback_dial.dial_due_single_callbacks()
