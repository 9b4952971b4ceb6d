"""Background work for contacts: thin tasks that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from contacts import services


# A large file takes longer than the project's default limits; the broker's visibility timeout
# (2 h) stays above both. A run the worker loses is redelivered (acks_late) and counted.
@shared_task(acks_late=True, soft_time_limit=30 * 60, time_limit=31 * 60)
def run_contact_import(import_id: int) -> None:
    services.contact_import_run(import_id=import_id)
