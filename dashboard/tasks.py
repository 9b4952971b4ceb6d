from celery import shared_task
from django.utils import timezone

from dashboard.models import Heartbeat


@shared_task
def record_heartbeat() -> None:
    """Beat enqueues this and a worker runs it, so a fresh row proves both are alive."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"seen_at": timezone.now()})
