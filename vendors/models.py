from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from vendors.crypto import decrypt_secret, encrypt_secret, mask_secret


class VendorKind(models.TextChoices):
    REVRAG = "revrag", "Revrag (AI calls)"
    VOICE_PLATFORM = "voice_platform", "Voice platform (AI calls, native campaigns)"
    REVONT = "revont", "Revont (sales-call records)"
    CALLCOV = "callcov", "CallCov (recording analysis)"
    REVOR = "revor", "Revor (follow-up outreach)"


# Documented base URLs; "custom" (any URL, e.g. the sandbox) is always possible too.
DOCUMENTED_BASE_URLS: dict[str, dict[str, str]] = {
    VendorKind.REVRAG: {
        "production": "https://api.revrag.ai",
        "staging": "https://staging-api.revrag.ai",
    },
    VendorKind.VOICE_PLATFORM: {},
    VendorKind.REVONT: {"production": "https://api.revont.ai/v1"},
    VendorKind.CALLCOV: {"production": "https://api.callcov.com/api/v1"},
    VendorKind.REVOR: {"production": "https://revor.ai/api/v1"},
}

# Vendors that place AI calls (and so can run campaigns).
CALLING_KINDS = frozenset({VendorKind.REVRAG, VendorKind.VOICE_PLATFORM})


class VendorMode(models.TextChoices):
    TEST = "test", "Test"
    LIVE = "live", "Live"


# How long a replaced webhook secret still verifies deliveries.
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class VendorAccount(models.Model):
    """A connection to one vendor: where it lives and the (encrypted) key callops uses."""

    kind = models.CharField(max_length=20, choices=VendorKind.choices)
    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(max_length=300)
    mode = models.CharField(max_length=10, choices=VendorMode.choices, default=VendorMode.TEST)
    api_key_encrypted = models.TextField(editable=False)
    api_key_mask = models.CharField(max_length=40, editable=False)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    # After a change of webhook secret the previous one keeps verifying for a while, so
    # deliveries the vendor signed before it switched are not lost.
    previous_webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_webhook_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Part of the webhook URL callops gives the vendor: /webhooks/<kind>/<token>/.
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token)
    # Overrides of the documented limits per endpoint group (vendors/ratelimit.py): requests per
    # minute, or a limit with its own window, e.g.
    # {"default": 100, "POST /v1/calls": 30, "POST /analysis/": {"limit": 20, "window_seconds": 30}}
    rate_limits = models.JSONField(default=dict, blank=True)
    # After a 429 the vendor's clock says when this key may be used again, for every group.
    rate_paused_until = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    # What one minute of calls costs on this account (in settings.CALLOPS_CURRENCY), set by an
    # admin from the vendor's price list; null when unknown. Estimated costs multiply it by
    # the minutes callops itself recorded.
    price_per_minute = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    # Health shown to admins, kept up to date by the rate budget as answers come in.
    last_success_at = models.DateTimeField(null=True, blank=True)
    rate_limited_count = models.PositiveIntegerField(default=0)
    rate_limited_since = models.DateTimeField(null=True, blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True)
    last_check_message = models.CharField(max_length=500, blank=True)
    # The circuit breaker (vendors/breaker.py): this many transport errors, timeouts or 5xx in
    # a row (or one 503) open it for the cool-down.
    # Defaults in the database too: code from before these columns (a web process still running
    # the previous release during a deploy) inserts accounts without them.
    breaker_failure_threshold = models.PositiveSmallIntegerField(default=5, db_default=5)
    breaker_cooldown_seconds = models.PositiveIntegerField(default=60, db_default=60)
    # The concurrency governor (calls/governor.py): live calls this account may have at once;
    # null for no limit of its own (the total limit, CALLOPS_MAX_LIVE_CALLS, still applies).
    max_live_calls = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # Never the key, even encrypted: reprs end up in logs and tracebacks.
        return f"<VendorAccount {self.pk} {self.kind} {self.name!r}>"

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = encrypt_secret(plaintext)
        self.api_key_mask = mask_secret(plaintext)

    def get_api_key(self) -> str:
        return decrypt_secret(self.api_key_encrypted)

    def set_webhook_secret(self, plaintext: str) -> None:
        self.webhook_secret_encrypted = encrypt_secret(plaintext) if plaintext else ""

    def rotate_webhook_secret(self, plaintext: str, *, overlap: timedelta | None = None) -> None:
        """Change the secret, keeping the old one valid for `overlap` (default 24 h)."""
        current = self.get_webhook_secret()
        if current and current != plaintext:
            self.previous_webhook_secret_encrypted = self.webhook_secret_encrypted
            self.previous_webhook_secret_until = timezone.now() + (
                overlap or WEBHOOK_SECRET_OVERLAP
            )
        self.set_webhook_secret(plaintext)

    def retire_previous_webhook_secret(self) -> None:
        self.previous_webhook_secret_encrypted = ""
        self.previous_webhook_secret_until = None

    def valid_webhook_secrets(self) -> list[str]:
        """The secrets a delivery may be signed with now: the current one, and the previous
        one until its overlap ends."""
        secrets = [self.get_webhook_secret()]
        until = self.previous_webhook_secret_until
        if self.previous_webhook_secret_encrypted and until and until > timezone.now():
            secrets.append(decrypt_secret(self.previous_webhook_secret_encrypted))
        return [secret for secret in secrets if secret]

    def get_webhook_secret(self) -> str:
        return (
            decrypt_secret(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""
        )

    def rate_limited_last_hour(self, now: datetime | None = None) -> int:
        """429 answers counted in the current one-hour window (0 once it is over an hour old)."""
        now = now or timezone.now()
        since = self.rate_limited_since
        return self.rate_limited_count if since and since > now - timedelta(hours=1) else 0

    @property
    def is_calling(self) -> bool:
        return self.kind in CALLING_KINDS

    @property
    def webhook_url(self) -> str:
        """Where this vendor must send its webhooks (shown to admins, registered by callops)."""
        base = settings.CALLOPS_PUBLIC_URL.rstrip("/")
        return f"{base}/webhooks/{self.kind}/{self.webhook_token}/"


class RateWindowSource(models.TextChoices):
    # No answer seen yet: one probe request learns where the vendor's windows begin.
    UNKNOWN = "unknown", "Not known yet"
    # The vendor sends X-RateLimit-Reset: our windows end when the vendor's do.
    VENDOR = "vendor", "Aligned on the vendor's reset time"
    # The vendor sends no reset time: windows start at our first request (and after a 429).
    LOCAL = "local", "Counted locally"


class RateBudget(models.Model):
    """The requests one vendor key may still send in the current window of one endpoint group.

    Shared by every process on every machine through the database; `vendors.ratelimit` takes
    from it in short transactions, never across an HTTP call. Times are unix seconds (floats)
    because they are compared with the vendor's own unix reset headers.
    """

    account = models.ForeignKey(
        VendorAccount, on_delete=models.CASCADE, related_name="rate_budgets"
    )
    # "default" or the vendor's own name for a separately limited endpoint ("POST /v1/calls").
    group = models.CharField(max_length=120)
    window_source = models.CharField(
        max_length=10, choices=RateWindowSource.choices, default=RateWindowSource.UNKNOWN
    )
    window_ends_at = models.FloatField(default=0.0)
    used = models.PositiveIntegerField(default=0)
    # Requests sent so close to a window boundary that the vendor may count them on either
    # side of it: they are counted in both windows (`used` plus one of these).
    used_next = models.PositiveIntegerField(default=0)
    used_previous = models.PositiveIntegerField(default=0)
    # What the vendor's headers said, when they say less than the configured limit.
    vendor_limit = models.PositiveIntegerField(null=True, blank=True)
    vendor_window_seconds = models.FloatField(null=True, blank=True)
    # While the first request's answer is awaited, the others wait until this time at most.
    probe_until = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "group"], name="rate_budget_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.group}: {self.used} used"


# ------------------------------------------------------------------ voice-platform configuration
# What callops created (or saw) at a voice-platform account. Kept here, beside the account,
# because it is configuration of the vendor itself; the calls app's Agent rows stay the ones
# calls and campaigns use.


class VoiceFlow(models.Model):
    """A conversation flow at the voice platform (POST/GET /api/voice/flows)."""

    vendor_account = models.ForeignKey(
        VendorAccount, on_delete=models.CASCADE, related_name="voice_flows"
    )
    vendor_flow_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    config = models.JSONField(default=dict, blank=True)
    # False once the vendor's list no longer has it.
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor_account", "vendor_flow_id"], name="voice_flow_unique_per_vendor"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.vendor_flow_id


class SpeakerStatus(models.TextChoices):
    """The states the voice platform reports for a speaker model (kept verbatim)."""

    CREATED = "created", "Created: waiting for samples"
    DEPLOYING = "deploying", "Deploying"
    DEPLOYED = "deployed", "Deployed"


class Speaker(models.Model):
    """A speaker voice (custom voice model) at the voice platform, with what callops last saw.

    The vendor names speakers (no id): the name is the key at the vendor, per account.
    """

    vendor_account = models.ForeignKey(
        VendorAccount, on_delete=models.CASCADE, related_name="speakers"
    )
    name = models.CharField(max_length=64)
    language = models.CharField(max_length=20, blank=True)
    # The vendor's status, verbatim ("created", "deploying", "deployed", or anything new).
    status = models.CharField(max_length=32, default=SpeakerStatus.CREATED)
    # The number of dataset samples the vendor says it holds.
    samples = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deploy_requested_at = models.DateTimeField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)
    # When callops last asked the vendor (a page refresh claims it, so many viewers ask once).
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor_account", "name"], name="speaker_unique_per_vendor"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status_label(self) -> str:
        try:
            return SpeakerStatus(self.status).label
        except ValueError:
            return self.status

    @property
    def is_deploying(self) -> bool:
        return self.status == SpeakerStatus.DEPLOYING

    @property
    def is_deployed(self) -> bool:
        return self.status == SpeakerStatus.DEPLOYED


class SpeakerSample(models.Model):
    """One audio file callops uploaded to a speaker's dataset (the file itself is not kept)."""

    speaker = models.ForeignKey(Speaker, on_delete=models.CASCADE, related_name="sample_files")
    file_name = models.CharField(max_length=255)
    size_bytes = models.PositiveIntegerField()
    content_type = models.CharField(max_length=50)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.file_name


# ------------------------------------------------------------------ circuit breaker
# One per vendor account (vendors/breaker.py moves it between states with conditional UPDATEs,
# so every web and worker process agrees on it through the database).


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed: requests go through"
    OPEN = "open", "Open: no request until the cool-down ends"
    HALF_OPEN = "half_open", "Half-open: one probe request decides"


class CircuitBreaker(models.Model):
    account = models.OneToOneField(
        VendorAccount, on_delete=models.CASCADE, related_name="circuit_breaker"
    )
    state = models.CharField(
        max_length=10, choices=BreakerState.choices, default=BreakerState.CLOSED
    )
    # Transport errors, timeouts and 5xx in a row; any other answer sets it back to 0.
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_failure = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    # The end of the cool-down: the first request after it is the probe.
    open_until = models.DateTimeField(null=True, blank=True)
    # While half-open, the probe in flight owns the breaker until this time; a probe whose
    # process died is replaced once it has passed.
    probe_until = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.account_id}: {self.state}"


class BreakerTransition(models.Model):
    """One change of a breaker's state, with when and why (shown on the connection page)."""

    account = models.ForeignKey(
        VendorAccount, on_delete=models.CASCADE, related_name="breaker_transitions"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    state_from = models.CharField(max_length=10, choices=BreakerState.choices)
    state_to = models.CharField(max_length=10, choices=BreakerState.choices)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.state_from} → {self.state_to}"
