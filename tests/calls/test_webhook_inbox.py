from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from calls.models import WebhookEvent, WebhookStatus
from tests.factories import WebhookEventFactory


def test_it_lists_failed_events_with_their_error(client_as):
    WebhookEventFactory(error="<script>alert(1)</script> broken")
    page = client_as("admin").get(reverse("calls:webhook_inbox") + "?status=failed")
    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; broken" in html
    assert "Failed (1)" in html


def test_it_replays_a_failed_event_and_audits_it(client_as, django_capture_on_commit_callbacks):
    event = WebhookEventFactory()
    admin = client_as("admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("calls:webhook_replay", kwargs={"pk": event.pk}))
    assert response.status_code == 302
    event.refresh_from_db()
    # Replayed at once (tasks run in-process in tests) and still unreadable: failed again.
    assert event.attempts == 1
    assert event.status == WebhookStatus.FAILED
    assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_REPLAYED).count() == 1


def test_it_does_not_replay_a_processed_event(client_as):
    event = WebhookEventFactory(status=WebhookStatus.PROCESSED, error="")
    client_as("admin").post(reverse("calls:webhook_replay", kwargs={"pk": event.pk}))
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 0
    assert not AuditEvent.objects.filter(action=AuditAction.WEBHOOK_REPLAYED).exists()


def test_it_shows_the_raw_body_escaped(client_as):
    event = WebhookEventFactory(body='{"summary": "<img src=x onerror=alert(1)>"}')
    html = client_as("admin").get(reverse("calls:webhook_event", kwargs={"pk": event.pk}))
    assert "&lt;img src=x onerror=alert(1)&gt;" in html.content.decode()
