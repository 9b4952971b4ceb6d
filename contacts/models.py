from __future__ import annotations

from django.conf import settings
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


class DoNotCallEntry(models.Model):
    """A number callops must never dial. The calls service checks it before every call."""

    phone_e164 = models.CharField("phone (E.164)", max_length=16, unique=True)
    reason = models.CharField(max_length=200, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call entries"

    def __str__(self) -> str:
        return self.phone_e164


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Waiting for column mapping"
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


IMPORT_FINISHED = (ImportStatus.DONE, ImportStatus.FAILED)


class DuplicatePolicy(models.TextChoices):
    MERGE = "merge", "Merge into the existing contact"
    SKIP = "skip", "Skip the row, keep the existing contact"


class ContactImport(models.Model):
    """One CSV upload and its background import.

    The file is kept in the database, not on a local disk: web and worker processes may run on
    different machines and share only the database and the broker.
    """

    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    data = models.BinaryField(default=b"", editable=False)
    delimiter = models.CharField(max_length=1, default=",")
    headers = models.JSONField(default=list, blank=True)
    # One target field per column, in column order ("" = ignore), see contacts.csv_import.FIELDS.
    mapping = models.JSONField(default=list, blank=True)
    duplicates = models.CharField(
        max_length=5, choices=DuplicatePolicy.choices, default=DuplicatePolicy.MERGE
    )
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # Runs claimed so far; a run killed again and again ends `failed` instead of looping.
    attempts = models.PositiveSmallIntegerField(default=0)
    error_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.file_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in IMPORT_FINISHED

    @property
    def is_active(self) -> bool:
        return self.status in (ImportStatus.PENDING, ImportStatus.RUNNING)


class ContactImportRejection(models.Model):
    """A CSV row that was not imported, with its line in the file and why."""

    contact_import = models.ForeignKey(
        ContactImport, on_delete=models.CASCADE, related_name="rejections"
    )
    line_number = models.PositiveIntegerField()
    raw = models.JSONField(default=list)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["contact_import", "line_number", "id"]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.reason}"
