"""A callback a callee asked for: booked at a time, or waiting in the queue for an operator.

Kept beside calls/models.py (imported there, so Django sees it as a calls model) because that
file is at its size limit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class CallbackStatus(models.TextChoices):
    BOOKED = "booked", "Booked"  # has a time; dialled when it is due
    NEEDS_TIME = "needs_time", "Needs a time"  # the request named no time callops could read
    DIALLED = "dialled", "Dialled"  # its call was written (see `call`)
    CANCELLED = "cancelled", "Cancelled"  # by an operator, or it could not be placed
    DISMISSED = "dismissed", "Dismissed"  # an operator decided no callback is owed


OPEN_CALLBACK_STATUSES = (CallbackStatus.BOOKED, CallbackStatus.NEEDS_TIME)


class Callback(models.Model):
    """One callback per call that asked for it (`source_call`)."""

    source_call = models.OneToOneField(
        "calls.Call", on_delete=models.CASCADE, related_name="callback_request"
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="callbacks",
    )
    to_number = models.CharField(max_length=16)
    # A string reference: calls never import campaigns. Set: the campaign's dispatcher dials it.
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="callbacks",
    )
    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.CASCADE, related_name="+"
    )
    agent = models.ForeignKey(
        "calls.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=CallbackStatus.choices)
    due_at = models.DateTimeField(null=True, blank=True)
    # The zone the request was read in and times are shown in (the contact's, else the number's).
    time_zone = models.CharField(max_length=64)
    # What the callee said or the agent extracted, verbatim (shown to the operator).
    requested = models.CharField(max_length=300, blank=True)
    # Why the time is what it is, or why it waits ("Moved to 9:00: calling hours ...").
    note = models.CharField(max_length=300, blank=True)
    call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # The dialers: booked callbacks that are due, per campaign or without one.
            models.Index(
                fields=["campaign", "due_at"],
                condition=Q(status="booked"),
                name="callback_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="booked") | Q(due_at__isnull=False),
                name="callback_booked_has_time",
            )
        ]

    def __str__(self) -> str:
        return f"Callback {self.pk} to {self.to_number} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CALLBACK_STATUSES
