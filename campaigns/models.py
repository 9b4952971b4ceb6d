from __future__ import annotations

from django.conf import settings
from django.db import models


class CampaignKind(models.TextChoices):
    NATIVE = "native", "Native (run by the voice platform)"
    PACED = "paced", "Paced (dialled by callops)"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"


ACTIVE_CAMPAIGN_STATUSES = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)

ALL_DAYS = [0, 1, 2, 3, 4, 5, 6]  # Monday = 0, as datetime.weekday()


def default_window_days() -> list[int]:
    return [0, 1, 2, 3, 4]


def default_retry_rules() -> dict:
    """Retry a call nobody answered (or a voicemail) after two hours, three attempts in all.
    Keyed by common outcome (calls.outcomes)."""
    return {
        "no_answer": {"retry_after_minutes": 120, "max_attempts": 3},
        "voicemail": {"retry_after_minutes": 120, "max_attempts": 3},
        "declined": None,
    }


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.PROTECT, related_name="campaigns"
    )
    agent = models.ForeignKey(
        "calls.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    kind = models.CharField(max_length=10, choices=CampaignKind.choices)
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    vendor_campaign_id = models.CharField(max_length=100, blank=True)
    calls_per_minute = models.PositiveSmallIntegerField(default=10)
    max_concurrent_calls = models.PositiveSmallIntegerField(default=5)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # {"name": "{{ contact.name }}"}: each value may name contact fields, nothing else.
    variables_template = models.JSONField(default=dict, blank=True)
    # The calling window, in each contact's local time (default_time_zone for contacts
    # without one): these weekdays, from window_start_hour to window_end_hour.
    window_days = models.JSONField(default=default_window_days, blank=True)
    window_start_hour = models.PositiveSmallIntegerField(default=9)
    window_end_hour = models.PositiveSmallIntegerField(default=18)
    default_time_zone = models.CharField(max_length=64, default="UTC")
    # {common outcome: {"retry_after_minutes": int, "max_attempts": int} | null}; absent = no
    # retry. Older outcome names (not_picked, ...) are read as the common ones they became.
    retry_rules = models.JSONField(default=default_retry_rules, blank=True)
    # How the audience was chosen (kept to show it; the dial entries are the audience).
    audience_search = models.CharField(max_length=200, blank=True)
    audience_time_zone = models.CharField(max_length=64, blank=True)
    audience_picked = models.BooleanField(default=False)  # contacts picked one by one
    audience_created_from = models.DateField(null=True, blank=True)
    audience_created_until = models.DateField(null=True, blank=True)
    audience_list = models.ForeignKey(
        "contacts.ContactList", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    audience_import = models.ForeignKey(
        "contacts.ContactImport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The zone the schedule was typed in (starts_at/ends_at are stored in UTC): the form shows
    # them in it again.
    schedule_time_zone = models.CharField(max_length=64, blank=True)
    # The pace schedule: the absolute time the next call may start (paced campaigns).
    next_slot_at = models.DateTimeField(null=True, blank=True)
    # Native campaigns: how many audience batches the vendor has, and its last stats.
    pushed_batches = models.PositiveIntegerField(default=0)
    vendor_stats = models.JSONField(default=dict, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    # Campaigns with arms: the seed of the draw that assigned contacts to arms at launch, and
    # how many draws there were since (each weight change or stopped arm draws the contacts
    # not yet dialled again, seeded by seed and draw number), so the split can be redone.
    arm_seed = models.BigIntegerField(null=True, blank=True)
    arm_draws = models.PositiveSmallIntegerField(default=0)
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"], name="campaign_status_idx")]

    def __str__(self) -> str:
        return self.name


MAX_ARMS = 4


class CampaignArm(models.Model):
    """One way of calling a paced campaign's audience: a vendor account, its agent and the
    variables sent, with a weight. A campaign with no arms calls everyone its own way (one
    implicit arm); one with arms has 2 to 4, the first being the campaign's own settings."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="arms")
    position = models.PositiveSmallIntegerField()  # 1 = the first arm, the comparisons' base
    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.PROTECT, related_name="+"
    )
    agent = models.ForeignKey("calls.Agent", on_delete=models.PROTECT, related_name="+")
    # As Campaign.variables_template; empty = the campaign's own template.
    variables_template = models.JSONField(default=dict, blank=True)
    weight = models.PositiveSmallIntegerField(default=1)
    # Stopped while the campaign runs: its contacts not yet dialled go to the other arms.
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Where this arm's dials go while it cannot take them. Only stored and edited here: the
    # spill itself comes with the circuit breakers.
    backup_arm = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["campaign_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="arm_unique_position")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"Arm {chr(ord('A') + self.position - 1)}"

    @property
    def is_stopped(self) -> bool:
        return self.stopped_at is not None


class DialState(models.TextChoices):
    PENDING = "pending", "Pending"
    DIALLING = "dialling", "Dialling"
    COMPLETED = "completed", "Completed"
    RETRY_SCHEDULED = "retry_scheduled", "Retry scheduled"
    EXHAUSTED = "exhausted", "Attempts used up"
    SKIPPED_DNC = "skipped_dnc", "Skipped: do-not-call"
    SKIPPED_INVALID = "skipped_invalid", "Skipped: invalid number"
    OUTSIDE_WINDOW = "outside_window", "Skipped: outside every calling window"
    NOT_DIALLED = "not_dialled", "Not dialled (stopped)"
    RETRY_CANCELLED = "retry_cancelled", "Cancelled (stopped)"


DUE_DIAL_STATES = (DialState.PENDING, DialState.RETRY_SCHEDULED)


class DialEntry(models.Model):
    """One contact of a campaign's audience: its attempts and where it stands."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="entries")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, on_delete=models.SET_NULL, related_name="dial_entries"
    )
    # Snapshots taken when the audience is built, so the dispatcher filters in SQL.
    phone_e164 = models.CharField(max_length=16)
    time_zone = models.CharField(max_length=64, blank=True)
    # Where the contact came from (its metadata "source", else its latest import), taken at
    # launch: with the time zone, the stratum of the arm draw.
    source = models.CharField(max_length=80, blank=True)
    # The arm the contact was drawn into at launch, kept across retries (null: no arms).
    arm = models.ForeignKey(
        CampaignArm, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    state = models.CharField(max_length=16, choices=DialState.choices, default=DialState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_outcome = models.CharField(max_length=20, blank=True)
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "dial entries"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "contact"], name="dial_entry_unique_contact"
            )
        ]
        indexes = [
            models.Index(
                fields=["campaign", "state", "next_attempt_at"], name="dial_entry_due_idx"
            ),
            models.Index(fields=["campaign", "last_attempt_at"], name="dial_entry_pace_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_e164} ({self.state})"
