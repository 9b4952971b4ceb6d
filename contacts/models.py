from __future__ import annotations

from django.db import models


class Contact(models.Model):
    """Someone callops may call. The E.164 number is the natural key."""

    name = models.CharField(max_length=200, blank=True)
    phone_e164 = models.CharField("phone (E.164)", max_length=16, unique=True)
    email = models.EmailField(blank=True)
    linkedin_url = models.URLField(blank=True)
    # IANA name; derived from the number when not given, used for calling windows.
    time_zone = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_e164})" if self.name else self.phone_e164
