from celery import shared_task
from django.utils import timezone

from dashboard import alerts_services
from dashboard.models import Heartbeat
from dashboard.services import worker_probe_answer
from dashboard.workers import MAIN_WORKER_HEARTBEAT


@shared_task
def record_heartbeat(name: str = MAIN_WORKER_HEARTBEAT) -> None:
    """Beat enqueues this and a worker runs it, so a fresh row proves both are alive. `name`
    says which workers (dashboard.workers): the main queue's or the dial queue's."""
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


@shared_task(bind=True)
def answer_worker_probe(self) -> None:
    """A liveness probe (`manage.py run`, `manage.py worker_alive`), sent to one worker's own
    queue: only one of its pool processes can run it, so an answer proves it can take a task."""
    worker_probe_answer(node=self.request.hostname)


# A notification's own attempt counter stops it (alerts_services.MAX_ATTEMPTS); this only keeps
# Celery from giving up first.
ALERT_TASK_RETRIES = 20


@shared_task
def evaluate_alerts() -> dict[str, int]:
    """Beat, every minute: evaluate every rule, then re-enqueue notifications whose retry time
    has come or whose sender died (the countdown of a lost retry message)."""
    outcomes = alerts_services.alerts_evaluate()
    for notification_id in alerts_services.notifications_due():
        send_alert_notification.delay(notification_id)
    return outcomes


@shared_task(bind=True, max_retries=ALERT_TASK_RETRIES, acks_late=True)
def send_alert_notification(self, notification_id: int) -> str:
    try:
        return alerts_services.alert_notification_send(notification_id=notification_id)
    except alerts_services.RetryLater as later:
        raise self.retry(countdown=later.seconds) from None
