"""Background work for contacts: thin tasks that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from contacts import compliance, customer_push, services


# A large file takes longer than the project's default limits; the broker's visibility timeout
# (2 h) stays above both. A run the worker loses is redelivered (acks_late) and counted.
@shared_task(acks_late=True, soft_time_limit=30 * 60, time_limit=31 * 60)
def run_contact_import(import_id: int) -> None:
    services.contact_import_run(import_id=import_id)


@shared_task(bind=True, acks_late=True)
def push_customers(self, push_id: int) -> None:
    """Send a customer push's next batches; come back when the vendor's budget allows."""
    wait = customer_push.customer_push_run(push_id=push_id)
    # In-process (eager) runs do not chain themselves: the caller or the sweeper goes on.
    if wait is not None and not self.request.is_eager:
        push_customers.apply_async((push_id,), countdown=wait)


@shared_task
def resume_customer_pushes() -> int:
    """Beat: pushes whose worker died or whose next message was lost go on."""
    push_ids = customer_push.customer_pushes_to_resume()
    for push_id in push_ids:
        push_customers.delay(push_id)
    return len(push_ids)


@shared_task
def prune_dial_attempts() -> int:
    """Beat: frequency caps look back 7 days; older attempts go after a while."""
    return compliance.attempts_prune()
