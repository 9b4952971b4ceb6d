"""The audit log and API tokens. Their tables keep the names they had when these models lived
in dashboard/ (moved without copying data: accounts/migrations/0001_initial.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

from accounts.roles import Role


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
    CAMPAIGN_ARM_CHANGED = "campaign_arm_changed", "Campaign arm changed"
    WEBHOOK_REPLAYED = "webhook_replayed", "Webhook replayed"
    DNC_ADDED = "dnc_added", "Number added to do-not-call list"
    DNC_REMOVED = "dnc_removed", "Number removed from do-not-call list"
    COMPLIANCE_POLICY_CHANGED = "compliance_policy_changed", "Calling policy changed"
    VENDOR_BREAKER_CHANGED = "vendor_breaker_changed", "Vendor circuit breaker changed"


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
        db_table = "dashboard_auditevent"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit events are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only and cannot be deleted.")


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
        db_table = "dashboard_apitoken"
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
