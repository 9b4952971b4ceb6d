from celery import shared_task
from django.utils import timezone

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
