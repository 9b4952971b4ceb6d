from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class Contact(models.Model):
    """Someone callops may call. The E.164 number is the natural key."""

    name = models.CharField(max_length=200, blank=True)
    # Unique through Meta.constraints rather than unique=True, which on PostgreSQL also builds
    # a varchar_pattern_ops index for LIKE 'prefix%' that no query here uses (the number
    # search is a LIKE '%digits%'), and which cost an import of a million rows 2-3 s.
    phone_e164 = models.CharField("phone (E.164)", max_length=16)
    email = models.EmailField(blank=True)
    linkedin_url = models.URLField(blank=True)
    # IANA name; derived from the number when not given, used for calling windows.
    time_zone = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["phone_e164"], name="contact_phone_e164_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_e164})" if self.name else self.phone_e164


class ContactList(models.Model):
    """A named group of contacts (a tag): filled by imports and by hand, chosen as a campaign's
    audience."""

    name = models.CharField(max_length=100, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


def _member_key(to: type[models.Model], *, related_name: str, **options: Any) -> models.ForeignKey:
    """A key of a member table (a contact in a list or in an imported file), kept by Django,
    not by PostgreSQL (db_constraint=False).

    An import writes a member row per contact of its file in the statement that writes the
    contact, and PostgreSQL checked both keys of every row by reading and locking the contact
    and the import again: 1M rows, 9.4 s of the backend's 25.7 s (import 31.4 -> 22.9-23.8 s;
    README, issue 22). Deleting still cascades: Django deletes the members with the contact,
    the list or the import. The one row this can leave is a member of a contact deleted while
    an import that holds it is running (the constraint made that delete fail instead); every
    read joins the contact, so such a row is never shown, and contact ids are never reused.
    """
    return models.ForeignKey(
        to, on_delete=models.CASCADE, related_name=related_name, db_constraint=False, **options
    )


class ContactListMember(models.Model):
    """A contact in a list. No id of its own: a million rows from one import cost two integers
    each (the key's index serves "the contacts of a list")."""

    pk = models.CompositePrimaryKey("contact_list", "contact")
    contact_list = _member_key(ContactList, related_name="members", db_index=False)
    contact = _member_key(Contact, related_name="list_memberships")

    def __str__(self) -> str:
        return f"{self.contact_id} in list {self.contact_list_id}"


class OptOutSource(models.TextChoices):
    MANUAL = "manual", "Added by hand"
    API = "api", "API"
    TRANSCRIPT = "transcript", "Said on a call"
    EXTRACTED_VARIABLE = "extracted_variable", "Agent's extracted variable"


class DoNotCallEntry(models.Model):
    """A number callops must never dial nor follow up: the opt-out ledger. Calls, campaigns and
    follow-ups check it before acting; each entry says where the opt-out came from."""

    phone_e164 = models.CharField("phone (E.164)", max_length=16, unique=True)
    reason = models.CharField(max_length=200, blank=True)
    source = models.CharField(
        max_length=20, choices=OptOutSource.choices, default=OptOutSource.MANUAL
    )
    # The call the opt-out was heard on (a plain id: contacts sits below calls in the house).
    call_id = models.PositiveBigIntegerField(null=True, blank=True)
    # What showed it: the transcript line, or the variable and its value.
    evidence = models.CharField(max_length=500, blank=True)
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
    """What a row does to a contact already stored with its number."""

    FILL = "fill", "Fill empty fields only: keep every value already stored"
    OVERWRITE = "overwrite", "Overwrite: the file's non-empty values replace the stored ones"
    SKIP = "skip", "Skip: leave the stored contact exactly as it is"


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
        max_length=10, choices=DuplicatePolicy.choices, default=DuplicatePolicy.FILL
    )
    # The list every contact of the file joins, besides being remembered as this file's.
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    # Every data row is rejected, repeats a number of an earlier row, or is the first row of
    # its number: that one created a contact, changed a stored one or left it unchanged.
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    repeated_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # Rows with no cell filled (not data rows, so not in total_rows).
    blank_row_count = models.PositiveIntegerField(default=0)
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


class ContactImportMember(models.Model):
    """A contact the file of a finished import holds (created, updated or unchanged by it): the
    audience "contacts of this file"."""

    pk = models.CompositePrimaryKey("contact_import", "contact")
    contact_import = _member_key(ContactImport, related_name="members", db_index=False)
    contact = _member_key(Contact, related_name="import_memberships")

    def __str__(self) -> str:
        return f"{self.contact_id} in import {self.contact_import_id}"


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


class ContactImportUpdate(models.Model):
    """A stored contact an import changed: {field: [old, new]} for each field it changed."""

    contact_import = models.ForeignKey(
        ContactImport, on_delete=models.CASCADE, related_name="updates"
    )
    phone_e164 = models.CharField(max_length=16)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["contact_import", "phone_e164", "id"]

    def __str__(self) -> str:
        return f"{self.phone_e164}: {', '.join(self.changes)}"


# --------------------------------------------------------------- customers pushed to the vendor


class PushStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Sending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


PUSH_FINISHED = (PushStatus.DONE, PushStatus.FAILED)


class CustomerPush(models.Model):
    """Contacts sent to a voice-platform account's customer import, in batches.

    Every row is written (with the exact payload to send and its batch) before the first
    request, so a retry sends the same batch with the same body and the same idempotency key:
    the vendor answers it from its record instead of importing it twice.
    """

    vendor_account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.PROTECT, related_name="customer_pushes"
    )
    # Batch n is sent with the key "<idempotency_prefix>-batch-<n>" on every attempt.
    idempotency_prefix = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=PushStatus.choices, default=PushStatus.PENDING)
    # How the contacts were chosen, as the person saw it ("12 selected contacts").
    selection = models.CharField(max_length=300, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    batch_count = models.PositiveIntegerField(default=0)
    # Batches whose answer is recorded: the next run starts at this one.
    batches_done = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    # A run owns the push until then; a run that finds it expired knows the last one died.
    locked_until = models.DateTimeField(null=True, blank=True)
    lost_runs = models.PositiveSmallIntegerField(default=0)
    transient_failures = models.PositiveSmallIntegerField(default=0)
    # While the vendor's rate budget is spent: when the next batch may go.
    waiting_until = models.DateTimeField(null=True, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "locked_until"], name="customer_push_due_idx")]

    def __str__(self) -> str:
        return f"Push {self.pk} to {self.vendor_account_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in PUSH_FINISHED

    @property
    def is_active(self) -> bool:
        return not self.is_finished

    def batch_key(self, batch_index: int) -> str:
        return f"{self.idempotency_prefix}-batch-{batch_index}"


class PushRowStatus(models.TextChoices):
    PENDING = "pending", "Not sent yet"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SKIPPED = "skipped", "Not sent: do not call"


class CustomerPushRow(models.Model):
    """One contact of a push: what was sent, in which batch, and what the vendor said of it."""

    push = models.ForeignKey(CustomerPush, on_delete=models.CASCADE, related_name="rows")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Null for rows callops did not send (skipped); else the batch and the index inside it.
    batch_index = models.PositiveIntegerField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    phone_e164 = models.CharField(max_length=16)
    name = models.CharField(max_length=200, blank=True)
    # Exactly what is sent for this row; never rebuilt, so a retried batch is byte-identical.
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=PushRowStatus.choices, default=PushRowStatus.PENDING
    )
    # The vendor's per-row answer, verbatim ("created", "updated", "error").
    vendor_status = models.CharField(max_length=20, blank=True)
    vendor_customer_id = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["push", "batch_index", "position", "id"]
        indexes = [
            models.Index(fields=["push", "batch_index", "position"], name="push_row_batch_idx"),
            models.Index(fields=["push", "status"], name="push_row_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_e164} ({self.status})"


# ---------------------------------------------------------------------------- compliance
# The organisation's calling-hours policy and frequency caps (contacts/compliance.py decides
# with them). Shipped defaults are loaded on first use from contacts/compliance_defaults.py.


class CompliancePolicy(models.Model):
    """The one row of organisation-wide settings: frequency caps per number (0 = no cap)."""

    max_attempts_per_day = models.PositiveSmallIntegerField(default=3)
    max_attempts_per_week = models.PositiveSmallIntegerField(default=7)
    min_gap_minutes = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return "Compliance policy"


class CallingHoursRule(models.Model):
    """Calling hours in the recipient's local time for a place, on top of campaign windows.

    `place` is "" (everywhere without a rule of its own), an ISO country ("US") or a country
    and subdivision ("US-FL"); the most specific rule for a number is the one that applies.
    """

    place = models.CharField(max_length=10, blank=True)
    label = models.CharField(max_length=80, blank=True)
    # Minutes after local midnight: 480 = 8:00; end up to 1440 (midnight).
    start_minute = models.PositiveSmallIntegerField(default=8 * 60)
    end_minute = models.PositiveSmallIntegerField(default=21 * 60)
    excluded_weekdays = models.JSONField(default=list, blank=True)  # Monday = 0
    skip_public_holidays = models.BooleanField(default=False)

    class Meta:
        ordering = ["place"]
        constraints = [models.UniqueConstraint(fields=["place"], name="calling_rule_place_unique")]

    def __str__(self) -> str:
        return self.place or "everywhere"


class DialAttempt(models.Model):
    """One attempt to call a number, reserved before the vendor is asked: what caps count."""

    phone_e164 = models.CharField(max_length=16)
    at = models.DateTimeField()
    # What placed it ("single call", "campaign 12"); the call id once known (no foreign key:
    # contacts sits below calls).
    source = models.CharField(max_length=80, blank=True)
    call_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["phone_e164", "at"], name="dial_attempt_phone_at_idx")]

    def __str__(self) -> str:
        return f"{self.phone_e164} at {self.at:%Y-%m-%d %H:%M}"


# ------------------------------------------------------------------------------- consent


class ConsentType(models.TextChoices):
    WRITTEN = "written", "Written"
    VERBAL = "verbal", "Verbal, on a call"
    IMPORTED = "imported", "Imported (with its source)"


class ConsentRecord(models.Model):
    """A contact's consent to be called: its kind, when it was given, what proves it and until
    when it holds. A campaign that requires consent of a kind dials only contacts with a record
    of that kind valid at dialling time."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    consent_type = models.CharField("type", max_length=10, choices=ConsentType.choices)
    given_at = models.DateTimeField("given")
    # Null: no expiry. Valid while given_at <= now < expires_at.
    expires_at = models.DateTimeField("expires", null=True, blank=True)
    # The evidence: any of a text, a URL, a file reference (a path or document id kept
    # elsewhere) and the call it was given on (a plain id: contacts sits below calls).
    evidence = models.CharField(max_length=500, blank=True)
    evidence_url = models.URLField("evidence URL", max_length=500, blank=True)
    evidence_file = models.CharField("evidence file", max_length=300, blank=True)
    call_id = models.PositiveBigIntegerField(null=True, blank=True)
    # Where an imported consent came from ("CRM export 2026-03").
    source = models.CharField(max_length=200, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-given_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "consent_type"], name="consent_contact_type_idx")
        ]

    def __str__(self) -> str:
        return f"{self.get_consent_type_display()} consent of contact {self.contact_id}"

    @property
    def evidence_summary(self) -> str:
        """The evidence in one line, as the compliance report writes it."""
        parts = [self.evidence, self.evidence_url, self.evidence_file]
        if self.call_id:
            parts.append(f"call {self.call_id}")
        if self.source:
            parts.append(f"source: {self.source}")
        return "; ".join(part for part in parts if part)
