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
    # An extracted variable by which the agent reports an opt-out ("do_not_call" = true): set
    # here in callops, not at the vendor.
    opt_out_variable = models.CharField(max_length=100, blank=True)

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


class CommonOutcome(models.TextChoices):
    """One outcome language for every vendor (the table mapping each vendor's codes to it, and
    what each value means, is calls/outcomes.py)."""

    COMPLETED = "completed", "Completed"
    VOICEMAIL = "voicemail", "Voicemail / machine"
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    DECLINED = "declined", "Declined"
    CALLBACK_REQUESTED = "callback_requested", "Callback requested"
    TRANSFERRED = "transferred", "Transferred"
    DROPPED = "dropped", "Dropped"
    FAILED_VENDOR = "failed_vendor", "Failed (vendor)"
    FAILED_NUMBER = "failed_number", "Failed (number)"
    OPTED_OUT = "opted_out", "Opted out"


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
    # The same end in the one language common to every vendor ("" while the call is live);
    # set by calls.outcomes.common_outcome_of wherever a vendor status or reason is stored.
    common_outcome = models.CharField(
        "outcome", max_length=20, choices=CommonOutcome.choices, blank=True, db_default=""
    )
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
    # Of those, the attempts that surely never reached the vendor (no connection, an error
    # answer, an open circuit): while they are all, the call may go to another vendor.
    unsent_attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
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
    # When the post-call rules were matched against the ended call (null: not yet), so the
    # sweeper can plan the calls whose planning message was lost, and no call twice.
    post_call_planned_at = models.DateTimeField(null=True, blank=True)

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
            # The call log filtered by outcome, newest first (keyset pagination).
            models.Index(
                fields=["common_outcome", "-created_at", "-id"], name="call_common_outcome_idx"
            ),
            # The post-call sweeper: ended calls whose rules were never matched.
            models.Index(
                fields=["last_update_at"],
                condition=Q(state="ended", post_call_planned_at__isnull=True),
                name="call_post_call_unplanned_idx",
            ),
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
            # Per account by time: its webhook health and when it last heard from the vendor.
            models.Index(fields=["vendor_account", "received_at"], name="webhook_account_time_idx"),
            models.Index(
                fields=["vendor_account", "vendor_call_id"],
                condition=Q(status="unmatched"),
                name="webhook_unmatched_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor_account_id}:{self.dedupe_key} ({self.status})"


class WebhookTally(models.Model):
    """Deliveries that leave no inbox row, counted per account and hour for the connection
    page: redeliveries of a stored event, and deliveries refused (signature, timestamp)."""

    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.CASCADE, related_name="webhook_tallies"
    )
    hour = models.DateTimeField()
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vendor_account", "hour"], name="webhook_tally_hour")
        ]

    def __str__(self) -> str:
        return f"{self.vendor_account_id} {self.hour:%Y-%m-%d %H}h"


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


class CallConversation(models.Model):
    """The conversation metrics of an ended call's transcript (calls/conversation.py says how
    each is measured). Null: unknown, because the transcript has no timings. A row of its own,
    not columns of the call: writing it never touches the wide call row or its triggers."""

    call = models.OneToOneField(
        Call, primary_key=True, on_delete=models.CASCADE, related_name="conversation"
    )
    computed_at = models.DateTimeField()
    lines = models.PositiveIntegerField()
    turns = models.PositiveIntegerField()
    agent_words = models.PositiveIntegerField()
    customer_words = models.PositiveIntegerField()
    timed = models.BooleanField()
    # The threshold "long silences" were counted with (CALLOPS_SILENCE_SECONDS at the time).
    silence_threshold_seconds = models.FloatField()
    agent_talk_seconds = models.FloatField(null=True)
    customer_talk_seconds = models.FloatField(null=True)
    # The agent's share of the talk time, 0 to 1 (the talk ratio).
    agent_talk_share = models.FloatField(null=True)
    agent_longest_monologue_seconds = models.FloatField(null=True)
    customer_longest_monologue_seconds = models.FloatField(null=True)
    agent_interruptions = models.PositiveIntegerField(null=True)
    customer_interruptions = models.PositiveIntegerField(null=True)
    overlap_seconds = models.FloatField(null=True)
    long_silences = models.PositiveIntegerField(null=True)
    longest_silence_seconds = models.FloatField(null=True)
    agent_first_word_seconds = models.FloatField(null=True)
    agent_responses = models.PositiveIntegerField(null=True)
    response_gap_p50_seconds = models.FloatField(null=True)
    response_gap_p90_seconds = models.FloatField(null=True)
    agent_words_per_minute = models.FloatField(null=True)
    customer_words_per_minute = models.FloatField(null=True)

    class Meta:
        indexes = [
            # The call log's filters walk the calls newest first and look up each one's metrics
            # here: with the filtered columns in the index, a look-up never visits the table
            # (a campaign with a rare response gap at 1M calls: 306 ms without, 17 ms with).
            models.Index(
                fields=["call"],
                include=["agent_talk_share", "long_silences", "response_gap_p90_seconds"],
                name="conversation_filters_idx",
            ),
            # PostgreSQL starts from these when few calls match.
            models.Index(fields=["agent_talk_share"], name="conversation_talk_share_idx"),
            models.Index(fields=["response_gap_p90_seconds"], name="conversation_gap_p90_idx"),
            models.Index(
                fields=["long_silences"],
                condition=Q(long_silences__gt=0),
                name="conversation_silences_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation of call {self.call_id}"


# --------------------------------------------------------------------------- after the call


class PostCallAction(models.TextChoices):
    """What a post-call rule can do, in the order the steps of one rule run."""

    ANALYSE = "analyse", "Analyse the recording"
    WRITE_BACK = "write_back", "Write back to the voice platform"
    FOLLOW_UP = "follow_up", "Follow-up message"
    LIKE_POST = "like_post", "Like a LinkedIn post"


class FollowUpChannel(models.TextChoices):
    EMAIL = "email", "Email"
    LINKEDIN = "linkedin", "LinkedIn"
    WHATSAPP = "whatsapp", "WhatsApp"


class PostCallRule(models.Model):
    """When a call of a vendor account or of a campaign ends a certain way, do these steps.

    A rule belongs to exactly one calling vendor account or one campaign. Its steps run in the
    order of PostCallAction: the analysis first, so the write-back can carry its results.
    """

    name = models.CharField(max_length=120)
    vendor_account = models.ForeignKey(
        "vendors.VendorAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="post_call_rules",
    )
    # A string reference: calls never import campaigns.
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="post_call_rules",
    )
    is_active = models.BooleanField(default=True)
    # CallOutcome values; empty means every ended call.
    outcomes = models.JSONField(default=list, blank=True)
    # Optionally, only when the vendor extracted this variable with this value (compared as
    # text, ignoring case and surrounding spaces).
    variable_name = models.CharField(max_length=100, blank=True)
    variable_value = models.CharField(max_length=200, blank=True)

    analysis_account = models.ForeignKey(
        "vendors.VendorAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A CallCov account analyses the recording.",
    )
    write_back = models.BooleanField(default=False)
    follow_up_account = models.ForeignKey(
        "vendors.VendorAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A Revor account sends the follow-up.",
    )
    # Revor's id of the connected mailbox / LinkedIn / WhatsApp account that sends.
    follow_up_sender = models.CharField(max_length=100, blank=True)
    follow_up_channel = models.CharField(max_length=10, choices=FollowUpChannel.choices, blank=True)
    follow_up_subject = models.CharField(max_length=300, blank=True)
    follow_up_message = models.TextField(blank=True)
    like_linkedin_post = models.BooleanField(default=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(vendor_account__isnull=False) & Q(campaign__isnull=True))
                | (Q(vendor_account__isnull=True) & Q(campaign__isnull=False)),
                name="postcallrule_one_scope",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def actions(self) -> list[str]:
        """The steps this rule makes for a matching call, in the order they run."""
        actions = []
        if self.analysis_account_id:
            actions.append(PostCallAction.ANALYSE)
        if self.write_back:
            actions.append(PostCallAction.WRITE_BACK)
        if self.follow_up_account_id and self.follow_up_channel:
            actions.append(PostCallAction.FOLLOW_UP)
        if self.follow_up_account_id and self.like_linkedin_post:
            actions.append(PostCallAction.LIKE_POST)
        return actions


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "In flight"
    # Accepted by the vendor; its result comes by webhook or by polling.
    WAITING = "waiting", "Waiting for the result"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


FINAL_STEP_STATUSES = (StepStatus.DONE, StepStatus.FAILED, StepStatus.SKIPPED)


class PostCallStep(models.Model):
    """One thing to do after one call, as an outbox row: claimed, acted on, recorded.

    At most one per call, rule and action (a unique constraint), so webhooks delivered twice
    or a planner that runs twice never make a second one. The idempotency key is made once and
    sent on every attempt, so a worker killed mid-request never makes the vendor act twice.
    """

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="post_call_steps")
    rule = models.ForeignKey(
        PostCallRule, null=True, on_delete=models.SET_NULL, related_name="steps"
    )
    rule_name = models.CharField(max_length=120)  # kept when the rule is deleted
    action = models.CharField(max_length=12, choices=PostCallAction.choices)
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    # The vendor account this step talks to (CallCov, the voice platform, Revor).
    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Pending: not before then (backoff or a rate limit). Waiting: when to poll the vendor.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # In flight: the worker that claimed it owns it until then; after that it may be taken over.
    lease_until = models.DateTimeField(null=True, blank=True)
    # The body sent, kept so a retry sends exactly the same (Revor answers 409 to a changed
    # body under the same key), and shown on the call page.
    request = models.JSONField(default=dict, blank=True)
    vendor_ref = models.CharField(max_length=100, blank=True)  # analysis or job id
    vendor_status = models.CharField(max_length=32, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    error_permanent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Plain columns: ordering by a foreign key would join (and FOR UPDATE refuses joins).
        ordering = ["call_id", "rule_name", "rule_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["call", "rule", "action"], name="postcallstep_once_per_call_rule"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "in_flight", "waiting"]),
                name="postcallstep_due_idx",
            ),
            models.Index(fields=["vendor_account", "vendor_ref"], name="postcallstep_ref_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} for call {self.call_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STEP_STATUSES

    @property
    def label(self) -> str:
        """What the step does, for people: "Follow-up by Email", "Analyse the recording"."""
        channel = self.request.get("channel") if isinstance(self.request, dict) else None
        if self.action == PostCallAction.FOLLOW_UP and channel in FollowUpChannel.values:
            return f"Follow-up by {FollowUpChannel(channel).label}"
        return self.get_action_display()


# Callbacks live in their own module (this one is at its size limit); imported so Django sees them.
from calls.callback_models import Callback, CallbackStatus  # noqa: E402, F401
