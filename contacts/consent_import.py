"""Consent columns of a CSV import: type, date, source or evidence, expiry.

The row checker (contacts/csv_import.py) rejects a row whose consent cells cannot be read, with
the rest of its checks; once the contacts are written, in the same transaction,
`consent_import_store` reads the file's consent cells again and records one consent per row
that has one (the contacts' own staging path stays as fast as it was).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from contacts.models import ConsentRecord, ConsentType, Contact

CONSENT_FIELDS = {
    "consent_type": "Consent type",
    "consent_date": "Consent date",
    "consent_evidence": "Consent source / evidence",
    "consent_expiry": "Consent expiry",
}
CONSENT_GUESSES = {
    "consent_type": ("consent", "consenttype", "consentkind"),
    "consent_date": ("consentdate", "consentgiven", "consentgivenat", "consentedat", "optindate"),
    "consent_evidence": ("consentsource", "consentevidence", "consentproof", "optinsource"),
    "consent_expiry": ("consentexpiry", "consentexpires", "consentexpiresat", "consentuntil"),
}
# What a type cell may say (lower case), besides the stored values.
_TYPE_WORDS = {
    "written": ConsentType.WRITTEN,
    "verbal": ConsentType.VERBAL,
    "verbal on a call": ConsentType.VERBAL,
    "imported": ConsentType.IMPORTED,
}
_FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ConsentColumns:
    """Where each consent cell is read (None: no column feeds it)."""

    type_at: int | None
    date_at: int | None
    evidence_at: int | None
    expiry_at: int | None

    @classmethod
    def from_mapping(cls, mapping: Sequence[str]) -> ConsentColumns | None:
        where = {target: i for i, target in enumerate(mapping) if target in CONSENT_FIELDS}
        if not where:
            return None
        return cls(
            where.get("consent_type"),
            where.get("consent_date"),
            where.get("consent_evidence"),
            where.get("consent_expiry"),
        )


@dataclass(frozen=True, slots=True)
class ImportedConsent:
    consent_type: str
    given_at: datetime
    expires_at: datetime | None
    evidence: str


def _cell(cells: Sequence[str], at: int | None) -> str:
    return cells[at].strip() if at is not None and at < len(cells) else ""


def _moment(text: str, field: str, *, end_of_day: bool = False) -> datetime:
    try:
        # A day alone first: parse_datetime would read "2027-01-31" as its midnight.
        day = parse_date(text)
        moment = parse_datetime(text) if day is None else None
    except ValueError:  # well formed but impossible ("2026-02-30")
        day = moment = None
    if day is not None:
        moment = datetime.combine(day, time(0))
        if end_of_day:
            moment += timedelta(days=1)  # a consent valid "until 2027-01-31" holds that day
    if moment is None:
        raise ValueError(f"{field}: not a date “{text[:40]}” (use YYYY-MM-DD)")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def parse_consent(cells: Sequence[str], columns: ConsentColumns) -> ImportedConsent | None:
    """The row's consent, None when its consent cells are empty; ValueError with the reason."""
    kind, given, evidence, expiry = (
        _cell(cells, columns.type_at),
        _cell(cells, columns.date_at),
        _cell(cells, columns.evidence_at),
        _cell(cells, columns.expiry_at),
    )
    if not (kind or given or evidence or expiry):
        return None
    if not given:
        raise ValueError("consent_date: needed when a row gives consent")
    consent_type = _TYPE_WORDS.get(kind.lower()) if kind else ConsentType.IMPORTED
    if consent_type is None:
        raise ValueError(f"consent_type: “{kind[:40]}” is not written, verbal or imported")
    given_at = _moment(given, "consent_date")
    if given_at > timezone.now() + _FUTURE_TOLERANCE:
        raise ValueError("consent_date: in the future")
    expires_at = _moment(expiry, "consent_expiry", end_of_day=True) if expiry else None
    if expires_at is not None and expires_at <= given_at:
        raise ValueError("consent_expiry: not after the consent date")
    if len(evidence) > 500:
        raise ValueError("consent_evidence: longer than 500 characters")
    return ImportedConsent(consent_type, given_at, expires_at, evidence)


def consent_import_store(
    *,
    rows: Iterable[tuple[int, list[str]]],
    mapping: Sequence[str],
    skip_lines: set[int],
    normalize: Any,
    file_name: str,
    added_by_id: int | None,
) -> int:
    """Records the consent of every accepted row that has one; how many were recorded.

    `rows` are the file's (line, cells); `normalize` the import's phone normalizer. A row whose
    consent is already on record (same contact, type and time) adds nothing, so importing a
    file twice records it once.
    """
    columns = ConsentColumns.from_mapping(mapping)
    phone_at = next((i for i, target in enumerate(mapping) if target == "phone"), None)
    if columns is None or phone_at is None:
        return 0
    found: list[tuple[str, int, ImportedConsent]] = []
    for line, cells in rows:
        if line in skip_lines:
            continue
        consent = parse_consent(cells, columns)
        if consent is not None:
            found.append((normalize(_cell(cells, phone_at)).e164, line, consent))
    if not found:
        return 0
    contact_ids: dict[str, int] = {}
    phones = list({phone for phone, _line, _consent in found})
    for start in range(0, len(phones), 5000):
        contact_ids.update(
            Contact.objects.filter(phone_e164__in=phones[start : start + 5000]).values_list(
                "phone_e164", "pk"
            )
        )
    known = set(
        ConsentRecord.objects.filter(contact_id__in=contact_ids.values()).values_list(
            "contact_id", "consent_type", "given_at"
        )
    )
    records = []
    for phone, line, consent in found:
        contact_id = contact_ids[phone]
        key = (contact_id, consent.consent_type, consent.given_at)
        if key in known:
            continue
        known.add(key)
        records.append(
            ConsentRecord(
                contact_id=contact_id,
                consent_type=consent.consent_type,
                given_at=consent.given_at,
                expires_at=consent.expires_at,
                evidence=consent.evidence,
                evidence_file=f"{file_name[:280]}, line {line}",
                source=(consent.evidence or f"CSV import {file_name}")[:200],
                added_by_id=added_by_id,
            )
        )
    ConsentRecord.objects.bulk_create(records, batch_size=2000)
    return len(records)


def consent_import_run(contact_import: Any, rejected_lines: set[int]) -> int:
    """consent_import_store for an import whose contacts were just written (same transaction)."""
    if ConsentColumns.from_mapping(contact_import.mapping) is None:
        return 0
    # Imported here: csv_import reads this module's fields and parser.
    from contacts.csv_import import iter_rows
    from contacts.phones import PhoneNormalizer, settings_region
    from contacts.selectors import contact_import_file

    return consent_import_store(
        rows=iter_rows(contact_import_file(pk=contact_import.pk), contact_import.delimiter),
        mapping=contact_import.mapping,
        skip_lines=rejected_lines,
        normalize=PhoneNormalizer(default_region=settings_region()),
        file_name=contact_import.file_name,
        added_by_id=contact_import.created_by_id,
    )
