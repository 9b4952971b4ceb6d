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
