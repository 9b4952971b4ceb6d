from __future__ import annotations

from django.conf import settings
from django.db import models


class Heartbeat(models.Model):
    """Last time a background process proved it was alive (shown on the overview)."""

    name = models.CharField(max_length=50, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%H:%M:%S}"


# ------------------------------------------------------------------------------------- alerts
# What each metric measures and how a rule is evaluated: dashboard/alerts_metrics.py and
# dashboard/alerts_services.py.


class AlertMetric(models.TextChoices):
    CONNECT_RATE = "connect_rate", "Connect rate (%)"
    FAILURE_RATE_VENDOR = "failure_rate_vendor", "Failure rate, vendor (%)"
    FAILURE_RATE_NUMBER = "failure_rate_number", "Failure rate, number (%)"
    VOICEMAIL_RATE = "voicemail_rate", "Voicemail rate (%)"
    DISPATCH_FAILURES = "dispatch_failures", "Dispatch failures"
    STUCK_CALLS = "stuck_calls", "Stuck calls"
    WEBHOOK_SILENCE = "webhook_silence", "Webhook silence while calls are live (minutes)"
    WEBHOOK_SIGNATURE_FAILURES = "webhook_signature_failures", "Webhook signature failures"
    RATE_LIMITED_PER_HOUR = "rate_limited_per_hour", "429 answers in the last hour"
    COST_PER_DAY = "cost_per_day", "Estimated cost today"
    WORKER_HEARTBEAT_MISSING = "worker_heartbeat_missing", "Worker heartbeat missing (minutes)"


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertRule(models.Model):
    """When to raise an alert and whom to tell. Admins edit rules; managers read them."""

    name = models.CharField(max_length=100)
    metric = models.CharField(max_length=40, choices=AlertMetric.choices)
    # The alert opens when the metric reaches the threshold (falls to it for the connect rate)
    # and resolves only once it is past the clear level: the gap between them is the hysteresis
    # that keeps a metric hovering at the threshold from opening and resolving every minute.
    threshold = models.DecimalField(max_digits=12, decimal_places=2)
    clear_threshold = models.DecimalField(max_digits=12, decimal_places=2)
    lookback_minutes = models.PositiveIntegerField(default=60)
    # Rates are not judged on fewer calls than this (one failed call out of two is not 50%).
    min_calls = models.PositiveIntegerField(default=10)
    severity = models.CharField(
        max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING
    )
    # Scope: both empty means every call; at most one is set (the form and a constraint say so).
    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    renotify_minutes = models.PositiveIntegerField(default=60)
    email_to = models.CharField(max_length=500, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    # Standard Webhooks signing secret ("whsec_" + base64), encrypted like vendor keys.
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(vendor_account__isnull=True) | models.Q(campaign__isnull=True),
                name="alert_rule_one_scope",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """One episode of a rule firing, from opening to resolving; kept afterwards as history."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    opened_at = models.DateTimeField()
    opened_value = models.DecimalField(max_digits=14, decimal_places=2)
    last_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    last_evaluated_at = models.DateTimeField()
    last_notified_at = models.DateTimeField()
    notifications_sent = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # Two evaluations at once cannot open a rule twice.
            models.UniqueConstraint(
                fields=["rule"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open_per_rule",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} @ {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class AlertEvent(models.TextChoices):
    OPENED = "opened", "Opened"
    REMINDER = "reminder", "Still open"
    RESOLVED = "resolved", "Resolved"


class AlertChannel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertNotification(models.Model):
    """One message to send (an outbox row): written with the alert change it tells about,
    sent by a worker, retried with backoff, never sent twice once it is marked sent."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=10, choices=AlertEvent.choices)
    channel = models.CharField(max_length=10, choices=AlertChannel.choices)
    # The Standard Webhooks `webhook-id`: the same on every retry, so a receiver drops repeats.
    message_id = models.CharField(max_length=40, unique=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # While sending: when another worker may take over; while waiting: the next try.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} by {self.channel} ({self.status})"
