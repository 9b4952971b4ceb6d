"""Scorecards: what a good call is, item by item, and the scores reviewers (and CallCov) give.

A scorecard's items live on a version. Editing a scorecard makes a new version with new items,
so a score always points at the exact items it was given against.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Scorecard(models.Model):
    """A named scorecard for one campaign, one vendor account, or (neither) every other call."""

    name = models.CharField(max_length=120)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    vendor_account = models.ForeignKey(
        "vendors.VendorAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(campaign__isnull=True) | Q(vendor_account__isnull=True),
                name="scorecard_one_scope",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_label(self) -> str:
        if self.campaign_id:
            return f"Campaign {self.campaign}"
        if self.vendor_account_id:
            return f"Vendor account {self.vendor_account}"
        return "Every other call"


class ScorecardVersion(models.Model):
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scorecard_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "number"], name="scorecard_version_once")
        ]

    def __str__(self) -> str:
        return f"{self.scorecard.name} v{self.number}"


class ItemKind(models.TextChoices):
    PASS_FAIL = "pass_fail", "Pass / fail"
    SCALE = "scale", "1 to 5"


class ItemSource(models.TextChoices):
    """Where an automatic value comes from; the reviewer confirms or overrides it."""

    NONE = "", "Reviewer only"
    CALLCOV_COMPLIANCE = "callcov_compliance", "CallCov compliance check"
    CALLCOV_QUALITY = "callcov_quality", "CallCov quality dimension"
    VARIABLE = "variable", "Extracted variable"
    METRIC = "metric", "Conversation metric"


class ThresholdDirection(models.TextChoices):
    AT_LEAST = "at_least", "passes at or above"
    AT_MOST = "at_most", "passes at or below"


class ScorecardItem(models.Model):
    version = models.ForeignKey(ScorecardVersion, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=10, choices=ItemKind.choices)
    allows_na = models.BooleanField(default=False)
    weight = models.PositiveSmallIntegerField(default=1)
    # A failed critical item fails the whole call (its score becomes 0).
    critical = models.BooleanField(default=False)
    source = models.CharField(max_length=20, choices=ItemSource.choices, blank=True)
    # The check, dimension, variable or metric the source names ("identity_verification").
    source_key = models.CharField(max_length=100, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    direction = models.CharField(
        max_length=10, choices=ThresholdDirection.choices, default=ThresholdDirection.AT_LEAST
    )

    class Meta:
        ordering = ["version_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="scorecard_item_position")
        ]

    def __str__(self) -> str:
        return self.label


class CallScore(models.Model):
    """One reviewer's score of one call; several reviewers may score the same call (calibration)."""

    call = models.ForeignKey("calls.Call", on_delete=models.CASCADE, related_name="scores")
    version = models.ForeignKey(ScorecardVersion, on_delete=models.PROTECT, related_name="scores")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # 0–100: the weighted mean of the answered items; 0 when a critical item failed.
    score = models.FloatField(null=True)
    failed_critical = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["call", "reviewer"], name="callscore_once_per_reviewer")
        ]
        indexes = [models.Index(fields=["updated_at"], name="callscore_updated_idx")]

    def __str__(self) -> str:
        return f"Score of call {self.call_id} by {self.reviewer_id}"


class ItemScore(models.Model):
    """A reviewer's answer to one item, beside the automatic value offered for it."""

    call_score = models.ForeignKey(CallScore, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ScorecardItem, on_delete=models.PROTECT, related_name="answers")
    # Pass/fail: 1 pass, 0 fail. 1 to 5: the number. Null: not applicable.
    value = models.PositiveSmallIntegerField(null=True)
    # What the automatic pre-fill offered (same coding), null when it had nothing.
    auto_value = models.PositiveSmallIntegerField(null=True)

    class Meta:
        ordering = ["call_score_id", "item__position"]
        constraints = [
            models.UniqueConstraint(fields=["call_score", "item"], name="itemscore_once")
        ]

    def __str__(self) -> str:
        return f"{self.item} = {self.value}"
