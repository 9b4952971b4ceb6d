"""Writes for alerts: evaluating the rules, opening, reminding and resolving alerts,
acknowledging them, editing rules, and sending their notifications (an outbox).

Each state change and the notifications that tell about it are written in one transaction; the
messages are enqueued on commit and sent by a worker outside any transaction. A rule is
evaluated safely by two workers at once: one open alert per rule is a database constraint, and
reminders and resolutions are claimed with conditional UPDATEs.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction
from dashboard import alerts_delivery
from dashboard.alerts_metrics import METRICS, clears, fires, metric_value
from dashboard.models import (
    Alert,
    AlertChannel,
    AlertEvent,
    AlertNotification,
    AlertRule,
    NotificationStatus,
)
from vendors.crypto import SecretUnreadable, decrypt_secret, encrypt_secret

# A notification is tried this many times (about 2 hours of backoff), then marked failed.
MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
# How long a worker owns a notification it is sending before another may take over.
SENDING_LEASE = timedelta(minutes=2)

RULE_FIELDS = (
    "name",
    "metric",
    "threshold",
    "clear_threshold",
    "lookback_minutes",
    "min_calls",
    "severity",
    "vendor_account",
    "campaign",
    "renotify_minutes",
    "email_to",
    "webhook_url",
    "is_enabled",
)


class RetryLater(Exception):
    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


def retry_delay(attempts: int) -> int:
    """Seconds before try number `attempts + 1`: 30 s, 1, 2, 4 … minutes, at most an hour."""
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)


# ------------------------------------------------------------------------------ evaluation


def alerts_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Beat, every minute: every enabled rule once. Returns how many alerts did what."""
    now = now or timezone.now()
    outcomes: dict[str, int] = {}
    for rule in AlertRule.objects.filter(is_enabled=True).select_related("campaign"):
        outcome = alert_rule_evaluate(rule=rule, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def alert_rule_evaluate(*, rule: AlertRule, now: datetime) -> str:
    value = metric_value(rule, now=now)  # a read, outside the transaction
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(rule=rule, resolved_at=None).first()
        if alert is None:
            return _maybe_open(rule=rule, value=value, now=now)
        updates: dict[str, Any] = {"last_evaluated_at": now}
        if value is not None:
            updates["last_value"] = value
        Alert.objects.filter(pk=alert.pk).update(**updates)
        if clears(rule, value):
            resolved = Alert.objects.filter(pk=alert.pk, resolved_at=None).update(resolved_at=now)
            if resolved:
                alert.refresh_from_db()
                _queue_notifications(alert, AlertEvent.RESOLVED)
                return "resolved"
            return "open"
        due = alert.last_notified_at + timedelta(minutes=rule.renotify_minutes)
        if fires(rule, value) and alert.acknowledged_at is None and now >= due:
            claimed = Alert.objects.filter(
                pk=alert.pk, last_notified_at=alert.last_notified_at
            ).update(last_notified_at=now, notifications_sent=F("notifications_sent") + 1)
            if claimed:
                alert.refresh_from_db()
                _queue_notifications(alert, AlertEvent.REMINDER)
                return "reminded"
        return "open"


def _maybe_open(*, rule: AlertRule, value: Decimal | None, now: datetime) -> str:
    if value is None or not fires(rule, value):
        return "quiet"
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                opened_at=now,
                opened_value=value,
                last_value=value,
                last_evaluated_at=now,
                last_notified_at=now,
            )
    except IntegrityError:  # another evaluation opened it a moment ago
        return "open"
    _queue_notifications(alert, AlertEvent.OPENED)
    return "opened"


def _queue_notifications(alert: Alert, event: AlertEvent) -> None:
    rule = alert.rule
    payload = notification_payload(alert, event)
    channels = []
    if rule.email_to.strip():
        channels.append(AlertChannel.EMAIL)
    if rule.webhook_url:
        channels.append(AlertChannel.WEBHOOK)
    for channel in channels:
        notification = AlertNotification.objects.create(
            alert=alert,
            event=event,
            channel=channel,
            message_id=f"msg_{uuid.uuid4().hex}",
            payload=payload,
        )
        transaction.on_commit(lambda pk=notification.pk: _enqueue_send(pk))


def _enqueue_send(notification_id: int) -> None:
    # Imported at call time: dashboard.tasks imports this module.
    import_module("dashboard.tasks").send_alert_notification.delay(notification_id)


def scope_label(rule: AlertRule) -> str:
    if rule.vendor_account_id:
        return f"vendor account {rule.vendor_account}"
    if rule.campaign_id:
        return f"campaign {rule.campaign}"
    return "all calls"


def notification_payload(alert: Alert, event: AlertEvent) -> dict[str, Any]:
    """What both channels tell: the Standard Webhooks body ({type, timestamp, data})."""
    rule = alert.rule

    def number(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "type": f"alert.{event}",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "alert_id": alert.pk,
            "rule_id": rule.pk,
            "rule": rule.name,
            "metric": rule.metric,
            "metric_label": rule.get_metric_display(),
            "severity": rule.severity,
            "scope": scope_label(rule),
            "value": number(alert.last_value),
            "opened_value": number(alert.opened_value),
            "threshold": number(rule.threshold),
            "clear_threshold": number(rule.clear_threshold),
            "opened_at": alert.opened_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "url": settings.CALLOPS_PUBLIC_URL.rstrip("/") + reverse("alerts"),
        },
    }


# ---------------------------------------------------------------------------- notifications


def notifications_due(*, now: datetime | None = None) -> list[int]:
    """Messages waiting for a try whose time has come, or whose sender died mid-send."""
    now = now or timezone.now()
    due = AlertNotification.objects.filter(
        status__in=(NotificationStatus.PENDING, NotificationStatus.SENDING),
        next_attempt_at__lte=now,
    )
    return list(due.values_list("pk", flat=True)[:500])


def alert_notification_send(*, notification_id: int) -> str:
    """Claims the message, sends it outside any transaction, records the result. Raises
    RetryLater with the backoff when it failed and may be tried again."""
    now = timezone.now()
    claimable = Q(status=NotificationStatus.PENDING, next_attempt_at__isnull=True) | Q(
        status__in=(NotificationStatus.PENDING, NotificationStatus.SENDING),
        next_attempt_at__lte=now,
    )
    claimed = (
        AlertNotification.objects.filter(claimable, pk=notification_id).update(
            status=NotificationStatus.SENDING,
            next_attempt_at=now + SENDING_LEASE,
            attempts=F("attempts") + 1,
        )
        == 1
    )
    if not claimed:
        return "not due"
    notification = AlertNotification.objects.select_related("alert__rule").get(pk=notification_id)
    try:
        _deliver(notification)
    except alerts_delivery.DeliveryFailed as exc:
        return _record_failure(notification, str(exc))
    AlertNotification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENT, sent_at=timezone.now(), next_attempt_at=None, last_error=""
    )
    return "sent"


def _deliver(notification: AlertNotification) -> None:
    rule = notification.alert.rule
    if notification.channel == AlertChannel.EMAIL:
        alerts_delivery.send_email(
            recipients=email_recipients(rule.email_to),
            subject=email_subject(notification),
            text=email_text(notification),
        )
        return
    if not rule.webhook_url:
        raise alerts_delivery.DeliveryFailed("The rule no longer has a webhook URL.")
    try:
        secret = decrypt_secret(rule.webhook_secret_encrypted)
    except SecretUnreadable as exc:
        raise alerts_delivery.DeliveryFailed(str(exc)) from exc
    alerts_delivery.post_webhook(
        url=rule.webhook_url,
        secret=secret,
        message_id=notification.message_id,
        payload=notification.payload,
    )


def _record_failure(notification: AlertNotification, reason: str) -> str:
    attempts = notification.attempts
    if attempts >= MAX_ATTEMPTS:
        AlertNotification.objects.filter(pk=notification.pk).update(
            status=NotificationStatus.FAILED, next_attempt_at=None, last_error=reason[:500]
        )
        return "failed"
    delay = retry_delay(attempts)
    AlertNotification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        last_error=reason[:500],
    )
    raise RetryLater(delay, reason)


def email_recipients(email_to: str) -> list[str]:
    return [
        address for address in email_to.replace(";", ",").replace(" ", ",").split(",") if address
    ]


def email_subject(notification: AlertNotification) -> str:
    data = notification.payload["data"]
    label = {"opened": "Alert", "reminder": "Still open", "resolved": "Resolved"}
    event = notification.payload["type"].removeprefix("alert.")
    return f"[callops {data['severity']}] {label.get(event, 'Alert')}: {data['rule']}"


def email_text(notification: AlertNotification) -> str:
    data = notification.payload["data"]
    unit = METRICS[data["metric"]].unit
    lines = [
        f"{data['metric_label']} for {data['scope']} is {data['value']} {unit}".rstrip() + ".",
        f"The alert opens at {data['threshold']} and resolves at {data['clear_threshold']}.",
        f"Opened at {data['opened_at']}.",
    ]
    if data["resolved_at"]:
        lines.append(f"Resolved at {data['resolved_at']}.")
    lines += ["", f"See and acknowledge it: {data['url']}"]
    return "\n".join(lines)


# ------------------------------------------------------------------------- people's actions


def alert_acknowledge(*, alert_id: int, user: Any) -> bool:
    """Stops the reminders of an open alert; False when it was already acknowledged or over."""
    acknowledged = Alert.objects.filter(pk=alert_id, resolved_at=None, acknowledged_at=None).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )
    return acknowledged == 1


def _changes(rule: AlertRule, data: dict[str, Any]) -> dict[str, Any]:
    changed = {}
    for field in RULE_FIELDS:
        before, after = getattr(rule, field), data[field]
        if before != after:
            changed[field] = str(after) if after is not None else None
    return changed


def alert_rule_save(
    *, rule: AlertRule | None, data: dict[str, Any], request: HttpRequest
) -> tuple[AlertRule, str | None]:
    """Creates or changes a rule (audited). Returns the rule and its new signing secret when
    one was made (a webhook URL set for the first time): shown to the admin once."""
    new_secret = None
    with transaction.atomic():
        created = rule is None
        rule = rule or AlertRule()
        changed = _changes(rule, data)
        for field in RULE_FIELDS:
            setattr(rule, field, data[field])
        if rule.webhook_url and not rule.webhook_secret_encrypted:
            new_secret = alerts_delivery.new_signing_secret()
            rule.webhook_secret_encrypted = encrypt_secret(new_secret)
        rule.save()
        if not rule.is_enabled:
            # A disabled rule is no longer evaluated: its open alert ends now, quietly.
            Alert.objects.filter(rule=rule, resolved_at=None).update(resolved_at=timezone.now())
        if created or changed:
            audit_record(
                action=AuditAction.ALERT_RULE_CHANGED,
                request=request,
                target=f"alert rule {rule.pk}: {rule.name}",
                detail={"created": created, "changes": changed},
            )
    return rule, new_secret


def alert_rule_new_secret(*, rule: AlertRule, request: HttpRequest) -> str:
    """A new signing secret for the rule's webhook (audited); the old one stops at once."""
    secret = alerts_delivery.new_signing_secret()
    with transaction.atomic():
        AlertRule.objects.filter(pk=rule.pk).update(webhook_secret_encrypted=encrypt_secret(secret))
        audit_record(
            action=AuditAction.ALERT_RULE_CHANGED,
            request=request,
            target=f"alert rule {rule.pk}: {rule.name}",
            detail={"changes": {"webhook_secret": "replaced"}},
        )
    return secret
