from celery import shared_task
from django.utils import timezone

from dashboard import analytics_summary
from dashboard.models import Heartbeat


@shared_task
def record_heartbeat() -> None:
    """Beat enqueues this and a worker runs it, so a fresh row proves both are alive."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"seen_at": timezone.now()})


@shared_task
def refresh_analytics_summary() -> str:
    """Beat: recompute the analytics summary's hours that changed since the last run.

    Two runs at once are harmless (the second returns "busy"); a run that stops half-way loses
    nothing (its batch rolls back). It stops after 50 s, under the task time limits, and the next
    run carries on.
    """
    return str(analytics_summary.refresh_summary(max_seconds=50.0))
