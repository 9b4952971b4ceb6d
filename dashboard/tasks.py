from celery import shared_task
from django.utils import timezone

from dashboard import analytics_summary
from dashboard.models import Heartbeat
from dashboard.services import worker_probe_answer


@shared_task
def record_heartbeat() -> None:
    """Beat enqueues this and a worker runs it, so a fresh row proves both are alive."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"seen_at": timezone.now()})


@shared_task(bind=True)
def answer_worker_probe(self) -> None:
    """A liveness probe (`manage.py run`, `manage.py worker_alive`), sent to one worker's own
    queue: only one of its pool processes can run it, so an answer proves it can take a task."""
    worker_probe_answer(node=self.request.hostname)


@shared_task
def refresh_analytics_summary() -> str:
    """Beat: recompute the analytics summary's hours that changed since the last run.

    Two runs at once are harmless (the second returns "busy"); a run that stops half-way loses
    nothing (its batch rolls back). It stops after 50 s, under the task time limits, and the next
    run carries on.
    """
    return str(analytics_summary.refresh_summary(max_seconds=50.0))
