from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

from dashboard.roles import Role


class AuditAction(models.TextChoices):
    LOGIN_SUCCEEDED = "login_succeeded", "Login succeeded"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOGOUT = "logout", "Logout"
    VENDOR_KEY_CREATED = "vendor_key_created", "Vendor key created"
    VENDOR_KEY_ROTATED = "vendor_key_rotated", "Vendor key rotated"
    VENDOR_ACCOUNT_UPDATED = "vendor_account_updated", "Vendor connection changed"
    VENDOR_ACCOUNT_DISABLED = "vendor_account_disabled", "Vendor connection disabled"
    VENDOR_ACCOUNT_ENABLED = "vendor_account_enabled", "Vendor connection enabled"
    USER_CREATED = "user_created", "User created"
    USER_DEACTIVATED = "user_deactivated", "User deactivated"
    USER_REACTIVATED = "user_reactivated", "User reactivated"
    ROLE_CHANGED = "role_changed", "Role changed"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    CALL_TRIGGERED = "call_triggered", "Call triggered"
    CAMPAIGN_LAUNCHED = "campaign_launched", "Campaign launched"
    CAMPAIGN_STOPPED = "campaign_stopped", "Campaign stopped"
    WEBHOOK_REPLAYED = "webhook_replayed", "Webhook replayed"
    DNC_ADDED = "dnc_added", "Number added to do-not-call list"
    DNC_REMOVED = "dnc_removed", "Number removed from do-not-call list"


class AuditEvent(models.Model):
    """A security- or money-relevant action. Append-only: the model refuses updates and deletes."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept beside the foreign key so the record still says who acted after the user is gone.
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit events are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only and cannot be deleted.")


class Heartbeat(models.Model):
    """Last time a background process proved it was alive (shown on the overview)."""

    name = models.CharField(max_length=50, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%H:%M:%S}"


ROLE_CHOICES = [(role.value, role.value.title()) for role in Role]


class ApiToken(models.Model):
    """A credential for the REST API that acts with its own role, within what its creator may now.

    Only a SHA-256 hash of the secret is stored; the short prefix is not secret and finds the
    row. The whole token (`cop_<prefix>_<secret>`) is shown once, when it is created.
    """

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=ROLE_CHOICES)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    # PROTECT: users are deactivated, not deleted, so the record of who made a token stays.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def __repr__(self) -> str:
        return f"<ApiToken {self.pk} {self.prefix} {self.role}>"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def status(self) -> str:
        if self.is_revoked:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "active"


class TokenPrincipal(User):
    """Who a request authenticated by an API token acts as.

    An in-memory stand-in for the token's creator (so `created_by=request.user` still records a
    real user) whose roles are the token's role only. It is never saved.
    """

    class Meta:
        proxy = True

    api_token: ApiToken

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("A token principal is not a user account and cannot be saved.")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("A token principal is not a user account and cannot be deleted.")


# --- The analytics summary ---------------------------------------------------------------------
# Calls counted per local hour (and per local day) of the site's time zone, so the analytics
# page reads a few thousand summed rows instead of every call. Database triggers on calls_call
# and calls_callreview (dashboard/analytics_summary.py) record what changed in SummaryChange in
# the same transaction as the change; a beat task recomputes just those hours. The page reads
# the summary for hours nobody has changed since, and the calls table for the rest, so its
# figures are exact at every moment.


class SummaryState(models.Model):
    """The summary's bookkeeping (one row, pk=1)."""

    # The zone whose local days and hours key the summary rows; "" until it has been built.
    # A different TIME_ZONE makes every row meaningless, so the refresh rebuilds.
    time_zone = models.CharField(max_length=64, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Analytics summary in {self.time_zone or '(not built)'}"


class SummaryChange(models.Model):
    """Something the summary has not caught up with yet. Written only by database triggers.

    `hour`: the UTC hour of a call that was inserted, deleted or changed in a summed column
    (both hours when its created_at moved). `call_id`: a call whose review changed; resolved to
    the call's hour when read, because a SQLite trigger on one table must not name another.
    Rows are never updated, so writers never wait on each other here; the refresh deletes
    exactly the rows it read. (Changing this table on SQLite remakes it, which its triggers do
    not survive: drop them first, as install_triggers() can put them back.)
    """

    id = models.BigAutoField(primary_key=True)
    hour = models.DateTimeField(null=True)
    call_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["hour"], name="summarychange_hour_idx")]

    def __str__(self) -> str:
        return f"Change {self.pk}: {self.hour or f'call {self.call_id}'}"


def _dimension(model: str, *, null: bool) -> models.ForeignKey:
    # No database constraint and no index: a deleted agent or campaign sets the calls' column to
    # NULL, the triggers mark those hours and the refresh rewrites them; reads join for names.
    return models.ForeignKey(
        model,
        null=null,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )


class CallFigures(models.Model):
    """Sums over the calls of one local day (and hour), vendor account, agent, campaign, state,
    outcome and vendor reason; the reviews of those calls are summed on the same row."""

    day = models.DateField()
    vendor_account = _dimension("vendors.VendorAccount", null=False)
    agent = _dimension("calls.Agent", null=True)
    campaign = _dimension("campaigns.Campaign", null=True)
    state = models.CharField(max_length=10)
    outcome = models.CharField(max_length=20, blank=True)
    vendor_outcome = models.CharField(max_length=64, blank=True)
    calls = models.PositiveIntegerField()
    duration_count = models.PositiveIntegerField()  # calls with a duration
    duration_sum = models.BigIntegerField()  # seconds
    reviewed = models.PositiveIntegerField()
    rated = models.PositiveIntegerField()
    rating_sum = models.PositiveIntegerField()

    class Meta:
        abstract = True


class CallHourSummary(CallFigures):
    hour = models.PositiveSmallIntegerField()  # 0–23, local

    class Meta:
        indexes = [models.Index(fields=["day", "hour"], name="callhoursummary_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h: {self.calls} calls"


class CallDaySummary(CallFigures):
    class Meta:
        indexes = [models.Index(fields=["day"], name="calldaysummary_day_idx")]

    def __str__(self) -> str:
        return f"{self.day}: {self.calls} calls"


class CallHourTotal(models.Model):
    """Calls per local day and hour, all accounts, agents and campaigns together: the heat map
    reads 24 rows a day here instead of every row of CallHourSummary."""

    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    calls = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "hour"], name="callhourtotal_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h: {self.calls} calls"


class HistogramSlice(models.TextChoices):
    """Which calls a histogram row counts: all of them, or one account's, agent's, campaign's."""

    ALL = "all", "All calls"
    ACCOUNT = "account", "Vendor account"
    AGENT = "agent", "Agent"
    CAMPAIGN = "campaign", "Campaign"


class DurationFigures(models.Model):
    """How many calls of a local day (and hour) lasted how long: the histogram the median
    duration is estimated from (dashboard/analytics_summary.py). One slice per grouping of the
    page, so a median by day reads a few dozen rows a day, not one per agent and campaign."""

    day = models.DateField()
    slice = models.CharField(max_length=8, choices=HistogramSlice.choices)
    # The account, agent or campaign id (NULL: calls with none, or the "all" slice).
    member = models.BigIntegerField(null=True)
    bucket = models.PositiveIntegerField()  # the bucket's first second
    calls = models.PositiveIntegerField()

    class Meta:
        abstract = True


class DurationHourSummary(DurationFigures):
    hour = models.PositiveSmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["slice", "day", "hour"], name="durationhoursummary_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h, {self.slice} {self.member}, {self.bucket} s"


class DurationDaySummary(DurationFigures):
    class Meta:
        indexes = [
            models.Index(fields=["slice", "day"], name="durationdaysummary_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day}, {self.slice} {self.member}, {self.bucket} s: {self.calls} calls"
