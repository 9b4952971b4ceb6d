"""Consent records: writes (add, change, delete) and the reads every dial path asks ("has this
contact valid consent of this kind now?").

A record is valid at a moment when it was given by then and has not expired (no expiry: valid
from then on). Campaigns that require consent of a kind check it in the preview, at launch, and
again right before each dial (paced) or push (native), because a record can expire or be
deleted meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from contacts.models import ConsentRecord, ConsentType, Contact

EDITABLE_FIELDS = (
    "consent_type",
    "given_at",
    "expires_at",
    "evidence",
    "evidence_url",
    "evidence_file",
    "call_id",
    "source",
)


class ConsentError(Exception):
    """Consent values that cannot be stored; `field` names the one at fault ("" for all)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ConsentValues:
    consent_type: str
    given_at: datetime
    expires_at: datetime | None = None
    evidence: str = ""
    evidence_url: str = ""
    evidence_file: str = ""
    call_id: int | None = None
    source: str = ""


def _check(values: ConsentValues) -> None:
    if values.consent_type not in ConsentType.values:
        raise ConsentError("consent_type", f"Unknown consent type: {values.consent_type!r}.")
    if timezone.is_naive(values.given_at):
        raise ConsentError("given_at", "The time consent was given needs a time zone.")
    if values.given_at > timezone.now() + _FUTURE_TOLERANCE:
        raise ConsentError("given_at", "Consent cannot be given in the future.")
    if values.expires_at is not None and values.expires_at <= values.given_at:
        raise ConsentError("expires_at", "The expiry must be after the time consent was given.")
    if values.consent_type == ConsentType.IMPORTED and not values.source:
        raise ConsentError("source", "Imported consent needs its source.")
    if values.consent_type == ConsentType.VERBAL and not (values.call_id or values.evidence):
        raise ConsentError("call_id", "Verbal consent needs the call it was given on or a note.")
    has_evidence = values.evidence or values.evidence_url or values.evidence_file or values.call_id
    if not has_evidence and values.consent_type != ConsentType.IMPORTED:
        raise ConsentError(
            "evidence", "Give the evidence: a text, a URL, a file reference or a call id."
        )


# A clock a few minutes ahead of ours (a CRM's) is not "the future".
_FUTURE_TOLERANCE = timedelta(minutes=5)


def consent_add(*, contact: Contact, values: ConsentValues, added_by: Any = None) -> ConsentRecord:
    _check(values)
    return ConsentRecord.objects.create(
        contact=contact,
        added_by=added_by if getattr(added_by, "pk", None) else None,
        **{name: getattr(values, name) for name in EDITABLE_FIELDS},
    )


def consent_update(*, record: ConsentRecord, values: ConsentValues) -> ConsentRecord:
    _check(values)
    for name in EDITABLE_FIELDS:
        setattr(record, name, getattr(values, name))
    record.save()
    return record


def consent_delete(*, record: ConsentRecord) -> None:
    record.delete()


# ------------------------------------------------------------------------------ reads


def consent_list(*, contact: Contact) -> list[ConsentRecord]:
    return list(ConsentRecord.objects.filter(contact=contact).select_related("added_by"))


def _valid_at(at: datetime) -> Q:
    return Q(given_at__lte=at) & (Q(expires_at__isnull=True) | Q(expires_at__gt=at))


def valid_consents(
    contact_ids: Iterable[int], *, consent_type: str, at: datetime | None = None
) -> dict[int, ConsentRecord]:
    """For each of the contacts with consent of `consent_type` valid at `at`, its newest such
    record (the basis the compliance report names)."""
    at = at or timezone.now()
    ids = list(set(contact_ids))
    found: dict[int, ConsentRecord] = {}
    for start in range(0, len(ids), 5000):
        records = ConsentRecord.objects.filter(
            _valid_at(at), contact_id__in=ids[start : start + 5000], consent_type=consent_type
        ).order_by("contact_id", "-given_at", "-id")
        for record in records:
            found.setdefault(record.contact_id, record)
    return found


def consent_refusal(
    contact_id: int | None, *, consent_type: str, at: datetime | None = None
) -> str:
    """Why the contact may not be dialled for lack of consent ("" when it may)."""
    if not consent_type:
        return ""
    if contact_id is not None and valid_consents([contact_id], consent_type=consent_type, at=at):
        return ""
    return f"No valid {ConsentType(consent_type).label.lower()} consent"
