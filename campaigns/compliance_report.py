"""The compliance report of a campaign over a date range, as CSV rows: each attempt (call) with
the recipient's local time, the rules checked and the consent basis, then each suppression
(an entry the rules kept from being dialled) with its reason.

What it can and cannot say: callops does not version the calling policy, so the rules named are
the policy's rules for the recipient's place as they stand when the report is made; a
suppression is the entry's latest state (an entry put off several times shows its last rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet

from calls.models import Call
from campaigns.models import DUE_DIAL_STATES, Campaign, DialEntry, DialState
from campaigns.selectors import WAITING_NOTE_PREFIX
from contacts import compliance
from contacts.models import ConsentRecord, ConsentType
from contacts.recording_consent import all_party_consent_place

HEADER = [
    "kind",
    "time (UTC)",
    "recipient local time",
    "recipient time zone",
    "number",
    "contact",
    "place",
    "rules checked",
    "consent basis",
    "call id",
    "call state",
    "outcome",
    "suppression reason",
]

SUPPRESSED_STATES = (
    DialState.SKIPPED_DNC,
    DialState.SKIPPED_CONSENT,
    DialState.SKIPPED_INVALID,
    DialState.OUTSIDE_WINDOW,
    DialState.NOT_DIALLED,
)
CHUNK = 2000


def report_bounds(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """The range as UTC moments: from the first day's midnight to the end of the last day, in
    the site's time zone."""
    zone = ZoneInfo(settings.TIME_ZONE)
    return (
        datetime.combine(first_day, time(0), tzinfo=zone),
        datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone),
    )


def _local(moment: datetime, phone: str, time_zone: str) -> tuple[str, str]:
    zone_name = compliance.place_of(phone, time_zone=time_zone).zones[0]
    return moment.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M:%S"), zone_name


def _place_text(phone: str) -> str:
    place = compliance.place_of(phone)
    text = "-".join(part for part in (place.country, place.subdivision) if part)
    if all_party_consent_place(phone):
        text += " (all-party recording consent)"
    return text


class _RulesText:
    """The rules checked for a number, named as the policy has them now."""

    def __init__(self, campaign: Campaign) -> None:
        self.rules = compliance.hours_rules()
        policy = compliance.compliance_policy()
        caps = []
        if policy.max_attempts_per_day:
            caps.append(f"{policy.max_attempts_per_day} per 24 h")
        if policy.max_attempts_per_week:
            caps.append(f"{policy.max_attempts_per_week} per 7 days")
        if policy.min_gap_minutes:
            caps.append(f"{policy.min_gap_minutes} min apart")
        self.caps = ", ".join(caps) or "none"
        consent_type = campaign.required_consent_type
        self.consent = ConsentType(consent_type).label.lower() if consent_type else "not required"
        self.window = (
            f"{campaign.window_start_hour}:00–{campaign.window_end_hour}:00 campaign window"
        )

    def __call__(self, phone: str, time_zone: str) -> str:
        rule = compliance.rule_for(self.rules, compliance.place_of(phone, time_zone=time_zone))
        if rule is None:
            hours = "calling hours: no rule"
        else:
            hours = f"calling hours{rule.where()} {rule.hours_text} local"
            if rule.excluded_weekdays:
                hours += ", no calls on " + " ".join(
                    compliance.WEEKDAY_NAMES[day] for day in sorted(rule.excluded_weekdays)
                )
            if rule.skip_public_holidays:
                hours += ", no public holidays"
        return (
            f"{hours}; {self.window}; frequency caps: {self.caps}; do-not-call list; "
            f"consent: {self.consent}"
        )


class _ConsentBasis:
    """The consent each row relied on, read once per chunk of rows (not once per row)."""

    def __init__(self, campaign: Campaign) -> None:
        self.consent_type = campaign.required_consent_type
        self.records: dict[int, list[ConsentRecord]] = {}

    def load(self, contact_ids: Iterable[int | None]) -> None:
        self.records = {}
        if not self.consent_type:
            return
        ids = [contact_id for contact_id in set(contact_ids) if contact_id is not None]
        records = ConsentRecord.objects.filter(
            contact_id__in=ids, consent_type=self.consent_type
        ).order_by("-given_at", "-id")
        for record in records:
            self.records.setdefault(record.contact_id, []).append(record)

    def __call__(self, contact_id: int | None, at: datetime) -> str:
        if not self.consent_type:
            return "not required"
        if contact_id is None:
            return "contact deleted"
        record = next(
            (
                record
                for record in self.records.get(contact_id, [])
                if record.given_at <= at and (record.expires_at is None or at < record.expires_at)
            ),
            None,
        )
        return _basis_text(record)


def _basis_text(record: ConsentRecord | None) -> str:
    if record is None:
        return "no valid consent at this time"
    given = record.given_at.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m-%d")
    expires = record.expires_at.strftime("%Y-%m-%d") if record.expires_at else "no expiry"
    return (
        f"{record.get_consent_type_display()} consent {record.pk} given {given}, {expires}: "
        f"{record.evidence_summary}"
    )


def _chunked(rows: QuerySet[Any], consent_basis: _ConsentBasis) -> Iterator[Any]:
    iterator = rows.iterator(chunk_size=CHUNK)
    while chunk := list(islice(iterator, CHUNK)):
        consent_basis.load(row.contact_id for row in chunk)
        yield from chunk


def report_rows(campaign: Campaign, *, start: datetime, end: datetime) -> Iterator[list[str]]:
    """The report's rows (header first) for attempts and suppressions in [start, end)."""
    rules_text = _RulesText(campaign)
    consent_basis = _ConsentBasis(campaign)
    yield HEADER
    calls = (
        Call.objects.filter(campaign=campaign, created_at__gte=start, created_at__lt=end)
        .select_related("contact")
        .order_by("created_at", "id")
    )
    for call in _chunked(calls, consent_basis):
        zone = call.contact.time_zone if call.contact else ""
        local, zone_name = _local(call.created_at, call.to_number, zone)
        yield [
            "attempt",
            call.created_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S"),
            local,
            zone_name,
            call.to_number,
            call.contact.name if call.contact else "",
            _place_text(call.to_number),
            rules_text(call.to_number, zone),
            consent_basis(call.contact_id, call.created_at),
            str(call.pk),
            call.get_state_display(),
            call.get_common_outcome_display() if call.common_outcome else call.outcome,
            "",
        ]
    entries = (
        DialEntry.objects.filter(campaign=campaign, updated_at__gte=start, updated_at__lt=end)
        .filter(state__in=(*SUPPRESSED_STATES, *DUE_DIAL_STATES))
        .select_related("contact")
        .order_by("updated_at", "id")
    )
    for entry in _chunked(entries, consent_basis):
        waiting = entry.state in DUE_DIAL_STATES
        if waiting and not entry.note.startswith(WAITING_NOTE_PREFIX):
            continue  # due, not held back by any rule
        local, zone_name = _local(entry.updated_at, entry.phone_e164, entry.time_zone)
        reason = entry.note if waiting else f"{entry.get_state_display()}. {entry.note}".strip()
        yield [
            "suppression",
            entry.updated_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S"),
            local,
            zone_name,
            entry.phone_e164,
            entry.contact.name if entry.contact else "",
            _place_text(entry.phone_e164),
            rules_text(entry.phone_e164, entry.time_zone),
            consent_basis(entry.contact_id, entry.updated_at),
            "",
            "",
            "",
            reason,
        ]
