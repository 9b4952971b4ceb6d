from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Agent(models.Model):
    """An AI agent configured at a vendor (synced from it), used to place calls."""

    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.CASCADE, related_name="agents"
    )
    vendor_agent_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=20, blank=True)
    voice = models.CharField(max_length=100, blank=True)
    # The variables the agent expects: [{"name", "type", "default_value"}].
    variables = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor_account", "vendor_agent_id"], name="agent_unique_per_vendor"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CallState(models.TextChoices):
    PENDING = "pending", "Pending"  # written by callops, not yet accepted by the vendor
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"  # ringing or in conversation
    ENDED = "ended", "Ended"
    FAILED = "failed", "Failed"  # never became a call (vendor refused, number invalid, ...)


LIVE_STATES = (CallState.PENDING, CallState.QUEUED, CallState.RUNNING)
TERMINAL_STATES = (CallState.ENDED, CallState.FAILED)


class CallOutcome(models.TextChoices):
    COMPLETED = "completed", "Completed"
    NOT_PICKED = "not_picked", "Not picked up"
    REJECTED = "rejected", "Rejected / busy"
    VOICEMAIL = "voicemail", "Voicemail"
    HUNG_UP = "hung_up", "Callee hung up"
    DROPPED = "dropped", "Dropped"
    NOT_CONNECTED = "not_connected", "Not connected"
    TRANSFERRED = "transferred", "Transferred"
    ERROR = "error", "Error"


class Call(models.Model):
    """One AI phone call, from the moment callops decides to place it to its transcript."""

    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.PROTECT, related_name="calls"
    )
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    # A string reference: calls never import campaigns (dependencies point one way).
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    to_number = models.CharField(max_length=16)
    from_number = models.CharField(max_length=32, blank=True)
    state = models.CharField(max_length=10, choices=CallState.choices, default=CallState.PENDING)
    outcome = models.CharField(max_length=20, choices=CallOutcome.choices, blank=True)
    # The vendor's own disconnection reason, verbatim, beside the normalized outcome.
    vendor_outcome = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    vendor_call_id = models.CharField(max_length=100, blank=True)
    # The vendor's latest status, verbatim (QUEUED, in_progress, ...).
    vendor_status = models.CharField(max_length=32, blank=True)
    # Made once when the call is written and sent on every attempt, so a vendor never
    # places the same call twice.
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The Idempotency-Key an API client sent, so its retry returns this call instead of a new one.
    request_key = models.CharField(max_length=200, blank=True)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    sync_failures = models.PositiveSmallIntegerField(default=0)
    # No news for too long while not ended: shown as needing attention, no longer polled.
    is_stale = models.BooleanField(default=False)
    last_payload = models.JSONField(default=dict, blank=True)

    variables = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    transcript = models.JSONField(default=list, blank=True)
    extracted_variables = models.JSONField(default=dict, blank=True)
    recording_url = models.URLField(max_length=1000, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_update_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor_account", "vendor_call_id"],
                condition=~Q(vendor_call_id=""),
                name="call_unique_vendor_id",
            ),
            models.UniqueConstraint(
                fields=["created_by", "request_key"],
                condition=~Q(request_key=""),
                name="call_unique_request_key",
            ),
        ]
        indexes = [
            # The call log: newest first, keyset pagination on (created_at, id).
            models.Index(fields=["-created_at", "-id"], name="call_log_idx"),
            # The sync job: calls not yet terminal whose next poll is due.
            models.Index(
                fields=["next_sync_at"],
                condition=Q(state__in=["pending", "queued", "running"]),
                name="call_sync_due_idx",
            ),
            models.Index(fields=["campaign", "state"], name="call_campaign_state_idx"),
            models.Index(fields=["agent", "created_at"], name="call_agent_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Call {self.pk} to {self.to_number} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES


class EventSource(models.TextChoices):
    API = "api", "API"
    WEBHOOK = "webhook", "Webhook"
    SYNC = "sync", "Sync"
    USER = "user", "User"
    SYSTEM = "system", "callops"


class CallEvent(models.Model):
    """One line of a call's timeline: a state change, a vendor error, a note."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=10, choices=EventSource.choices)
    state_from = models.CharField(max_length=10, blank=True)
    state_to = models.CharField(max_length=10, blank=True)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["call", "at"], name="callevent_call_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.source}: {self.message}"


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    UNMATCHED = "unmatched", "Waiting for its call"
    FAILED = "failed", "Failed"


class WebhookEvent(models.Model):
    """A webhook delivery, stored raw before anything else so nothing a vendor sends is lost."""

    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.CASCADE, related_name="webhook_events"
    )
    # The vendor's event id when it sends one, else a hash of the body: a redelivery of the
    # same event hits the unique constraint and changes nothing.
    dedupe_key = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING
    )
    event_type = models.CharField(max_length=50, blank=True)
    vendor_call_id = models.CharField(max_length=100, blank=True)
    call = models.ForeignKey(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor_account", "dedupe_key"], name="webhook_unique_delivery"
            )
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="webhook_status_idx"),
            models.Index(
                fields=["vendor_account", "vendor_call_id"],
                condition=Q(status="unmatched"),
                name="webhook_unmatched_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor_account_id}:{self.dedupe_key} ({self.status})"


class SyncCursor(models.Model):
    """Where a list import stopped (a vendor's opaque cursor), so the next run resumes there."""

    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.CASCADE, related_name="sync_cursors"
    )
    name = models.CharField(max_length=50)
    cursor = models.CharField(max_length=500, blank=True)
    # A run owns the import until then; a second run at the same moment does nothing.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    imported = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vendor_account", "name"], name="sync_cursor_unique")
        ]

    def __str__(self) -> str:
        return f"{self.vendor_account_id}:{self.name} @ {self.cursor or 'start'}"


class ReviewTag(models.Model):
    """A free tag a manager put on a reviewed call; the table feeds the tag autocomplete."""

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CallReview(models.Model):
    """A manager's review of one ended call: attributed, timestamped, one per call."""

    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="review")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_reviewed = models.BooleanField(default=False)
    # When it was marked reviewed (null while it is only rated or annotated).
    reviewed_at = models.DateTimeField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    tags = models.ManyToManyField(ReviewTag, blank=True, related_name="reviews")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="callreview_rating_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"Review of call {self.call_id}"
