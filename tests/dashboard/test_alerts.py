"""Alerts: a rule opens one alert, re-notifies no sooner than its interval, resolves by itself
past its clear level, and tells by email and by a signed webhook that a real listener receives."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from calls.models import CallState, CommonOutcome
from dashboard import alerts_services, tasks
from dashboard.alerts_delivery import new_signing_secret
from dashboard.models import (
    Alert,
    AlertMetric,
    AlertNotification,
    AlertRule,
    AlertSeverity,
    NotificationStatus,
)
from tests import factories
from vendors.crypto import encrypt_secret

pytestmark = pytest.mark.django_db


class Listener:
    """A local HTTP endpoint that answers each POST with the next status of `statuses` (the
    last one repeats) and keeps what it received."""

    def __init__(self, statuses: list[int]) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.statuses = list(statuses)
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.received.put(({k.lower(): v for k, v in self.headers.items()}, body))
                status = (
                    listener.statuses.pop(0) if len(listener.statuses) > 1 else listener.statuses[0]
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def all(self) -> list[tuple[dict[str, str], bytes]]:
        items = []
        while not self.received.empty():
            items.append(self.received.get_nowait())
        return items

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Any]:
    made: list[Listener] = []

    def make(statuses: list[int]) -> Listener:
        made.append(Listener(statuses))
        return made[-1]

    yield make
    for item in made:
        item.stop()


def ended_calls(account: Any, outcomes: list[str]) -> list[Any]:
    return [
        factories.CallFactory(vendor_account=account, state=CallState.ENDED, common_outcome=outcome)
        for outcome in outcomes
    ]


def set_failures(calls: list[Any], failed: int) -> None:
    """The first `failed` calls failed at the vendor, the others completed."""
    for index, call in enumerate(calls):
        call.common_outcome = (
            CommonOutcome.FAILED_VENDOR if index < failed else CommonOutcome.COMPLETED
        )
        call.save(update_fields=["common_outcome"])


def failure_rule(**extra: Any) -> AlertRule:
    fields = {
        "name": "Vendor failures",
        "metric": AlertMetric.FAILURE_RATE_VENDOR,
        "threshold": Decimal(20),
        "clear_threshold": Decimal(10),
        "lookback_minutes": 60,
        "min_calls": 5,
        "severity": AlertSeverity.CRITICAL,
        "renotify_minutes": 30,
        "email_to": "ops@example.com",
        **extra,
    }
    return AlertRule.objects.create(**fields)


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    """One beat run of the alerts: notifications are enqueued (and, eagerly, sent) on commit."""

    def run(now: Any = None) -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            if now is None:
                return tasks.evaluate_alerts.delay().get()
            return alerts_services.alerts_evaluate(now=now)

    return run


@pytest.fixture
def twenty_calls() -> list[Any]:
    account = factories.VendorAccountFactory()
    return ended_calls(account, [CommonOutcome.COMPLETED] * 20)


def test_it_opens_one_alert_and_emails_it_once(evaluate, twenty_calls):
    rule = failure_rule()
    set_failures(twenty_calls, 6)  # 30 %
    now = timezone.now()

    assert evaluate(now=now) == {"opened": 1}
    assert evaluate(now=now + timedelta(minutes=1)) == {"open": 1}

    alert = Alert.objects.get(rule=rule)
    assert alert.opened_value == Decimal("30.00") and alert.is_open
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    assert message.subject == "[callops critical] Alert: Vendor failures"
    assert "Failure rate, vendor (%) for all calls is 30.00 %." in message.body


def test_it_stays_quiet_below_the_threshold_and_below_the_minimum_of_calls(evaluate, twenty_calls):
    failure_rule()
    set_failures(twenty_calls, 3)  # 15 %
    assert evaluate() == {"quiet": 1}
    AlertRule.objects.update(min_calls=21)
    set_failures(twenty_calls, 20)  # 100 %, but over fewer calls than the rule judges
    assert evaluate() == {"quiet": 1}
    assert not Alert.objects.exists() and mail.outbox == []


def test_it_renotifies_no_sooner_than_the_interval_and_not_once_acknowledged(
    evaluate, twenty_calls, role_users
):
    failure_rule(renotify_minutes=30)
    set_failures(twenty_calls, 6)
    start = timezone.now()
    evaluate(now=start)
    evaluate(now=start + timedelta(minutes=29))
    assert len(mail.outbox) == 1

    assert evaluate(now=start + timedelta(minutes=30)) == {"reminded": 1}
    evaluate(now=start + timedelta(minutes=31))
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "[callops critical] Still open: Vendor failures"

    alert = Alert.objects.get()
    assert alerts_services.alert_acknowledge(alert_id=alert.pk, user=role_users["manager"])
    evaluate(now=start + timedelta(minutes=120))
    assert len(mail.outbox) == 2
    alert.refresh_from_db()
    assert alert.notifications_sent == 2 and alert.acknowledged_by == role_users["manager"]


def test_it_resolves_only_past_the_clear_level_and_keeps_the_history(evaluate, twenty_calls):
    rule = failure_rule()
    start = timezone.now()
    set_failures(twenty_calls, 6)  # 30 %: opens
    evaluate(now=start)

    set_failures(twenty_calls, 3)  # 15 %: under the threshold, above the clear level
    assert evaluate(now=start + timedelta(minutes=1)) == {"open": 1}
    set_failures(twenty_calls, 2)  # 10 %: at the clear level
    assert evaluate(now=start + timedelta(minutes=2)) == {"resolved": 1}
    assert mail.outbox[-1].subject == "[callops critical] Resolved: Vendor failures"

    set_failures(twenty_calls, 3)  # 15 %: a resolved alert does not reopen under the threshold
    assert evaluate(now=start + timedelta(minutes=3)) == {"quiet": 1}
    set_failures(twenty_calls, 4)  # 20 %: at the threshold, a new alert
    assert evaluate(now=start + timedelta(minutes=4)) == {"opened": 1}

    first, second = Alert.objects.filter(rule=rule).order_by("opened_at")
    assert first.resolved_at == start + timedelta(minutes=2) and second.is_open
    assert [m.subject.split("] ")[1].split(":")[0] for m in mail.outbox] == [
        "Alert",
        "Resolved",
        "Alert",
    ]


def verify(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The reference Standard Webhooks verifier, not callops' own code."""
    return Webhook(secret).verify(body, headers)


def test_it_posts_a_webhook_the_standard_webhooks_verifier_accepts(
    evaluate, twenty_calls, listener
):
    hook = listener([204])
    secret = new_signing_secret()
    rule = failure_rule(email_to="", webhook_url=hook.url)
    rule.webhook_secret_encrypted = encrypt_secret(secret)
    rule.save()
    set_failures(twenty_calls, 6)

    evaluate()

    [(headers, body)] = hook.all()
    payload = verify(secret, headers, body)
    assert payload["type"] == "alert.opened"
    assert payload["data"]["rule"] == "Vendor failures"
    assert payload["data"]["value"] == "30.00"
    assert headers["webhook-id"] == AlertNotification.objects.get().message_id
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        verify(new_signing_secret(), headers, body)
    with pytest.raises(WebhookVerificationError):
        verify(secret, headers, body.replace(b"30.00", b"31.00"))
    assert mail.outbox == []


def test_it_retries_a_refused_webhook_later_with_the_same_id(evaluate, twenty_calls, listener):
    hook = listener([500, 204])
    secret = new_signing_secret()
    rule = failure_rule(email_to="", webhook_url=hook.url)
    rule.webhook_secret_encrypted = encrypt_secret(secret)
    rule.save()
    set_failures(twenty_calls, 6)
    before = timezone.now()

    # The task asks Celery to retry it after the backoff (eager here: Retry is raised).
    with pytest.raises(Retry) as retry:
        evaluate()
    assert retry.value.when == 30

    notification = AlertNotification.objects.get()
    assert notification.status == NotificationStatus.PENDING and notification.attempts == 1
    assert notification.last_error == "The webhook answered HTTP 500."
    wait = (notification.next_attempt_at - before).total_seconds()
    assert 30 <= wait < 35
    evaluate()  # not due yet: nothing is sent
    assert len(hook.all()) == 1

    AlertNotification.objects.update(next_attempt_at=timezone.now())
    evaluate()  # the sweep sends what is due

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT and notification.attempts == 2
    [(headers, body)] = hook.all()
    assert headers["webhook-id"] == notification.message_id
    assert verify(secret, headers, body)["type"] == "alert.opened"


def test_it_backs_off_exponentially_and_gives_up_after_the_last_attempt(
    evaluate, twenty_calls, listener
):
    hook = listener([503])
    rule = failure_rule(email_to="", webhook_url=hook.url)
    rule.webhook_secret_encrypted = encrypt_secret(new_signing_secret())
    rule.save()
    set_failures(twenty_calls, 6)
    assert [alerts_services.retry_delay(n) for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]

    with pytest.raises(Retry):
        evaluate()  # the first attempt
    notification = AlertNotification.objects.get()
    for _ in range(alerts_services.MAX_ATTEMPTS - 1):
        AlertNotification.objects.update(next_attempt_at=timezone.now())
        with contextlib.suppress(alerts_services.RetryLater):
            alerts_services.alert_notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == alerts_services.MAX_ATTEMPTS
    assert len(hook.all()) == alerts_services.MAX_ATTEMPTS
    AlertNotification.objects.update(next_attempt_at=timezone.now())
    assert alerts_services.notifications_due() == []


def test_it_sends_each_notification_once_when_two_workers_try(evaluate, twenty_calls, listener):
    hook = listener([204])
    rule = failure_rule(webhook_url=hook.url)
    rule.webhook_secret_encrypted = encrypt_secret(new_signing_secret())
    rule.save()
    set_failures(twenty_calls, 6)
    evaluate()
    for notification in AlertNotification.objects.all():
        assert alerts_services.alert_notification_send(notification_id=notification.pk) == (
            "not due"
        )
    assert len(hook.all()) == 1 and len(mail.outbox) == 1
    assert json.loads(AlertNotification.objects.first().payload["data"]["opened_value"]) == 30


def test_it_opens_one_alert_when_two_checks_race(evaluate, twenty_calls):
    rule = failure_rule()
    set_failures(twenty_calls, 6)
    now = timezone.now()
    evaluate(now=now)

    # A second check that read "no open alert" before the first one committed.
    assert alerts_services._maybe_open(rule=rule, value=Decimal(30), now=now) == "open"

    assert Alert.objects.filter(rule=rule).count() == 1
    assert AlertNotification.objects.count() == 1 and len(mail.outbox) == 1
