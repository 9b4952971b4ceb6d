"""What the calling policy means for a campaign: which rule holds each contact back at the start
(the preview), whether the campaign may launch (recording disclosure), and the consent check the
dispatcher and the native push repeat right before dialling.

The rules themselves live in contacts (contacts/compliance.py: hours and caps; contacts/consent.py;
contacts/recording_consent.py); this module only applies them to a campaign's dial entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from campaigns.models import Campaign
from campaigns.schedule import render_variables
from contacts import compliance
from contacts.consent import valid_consents
from contacts.models import ConsentType, Contact, DialAttempt
from contacts.recording_consent import all_party_consent_place

HOLIDAY_PREFIX = "No calls on public holidays"


def waiting_group(rule: str) -> str:
    """The preview group of a policy refusal: "holiday", "cap" or "hours" (weekdays included)."""
    if rule.startswith(HOLIDAY_PREFIX):
        return "holiday"
    if rule.startswith("Frequency cap") or rule.startswith("Another call to this number"):
        return "cap"
    return "hours"


@dataclass
class PolicyWaits:
    """Entries the policy holds back at a moment, by group, with the rule of each."""

    hours: list[int] = field(default_factory=list)
    holiday: list[int] = field(default_factory=list)
    cap: list[int] = field(default_factory=list)
    rules: dict[int, str] = field(default_factory=dict)

    def add(self, pk: int, rule: str) -> None:
        getattr(self, waiting_group(rule)).append(pk)
        self.rules[pk] = rule


def policy_waits(rows: Iterable[tuple[int, str, str]], *, at: datetime) -> PolicyWaits:
    """For (entry id, number, time zone) rows, those the calling hours or the frequency caps
    would refuse at `at` (hours first: a number outside its hours is not also counted capped)."""
    rows = list(rows)
    waits = PolicyWaits()
    hours = compliance.hours_waits(
        {(phone, zone) for _pk, phone, zone in rows}, at=at, rules=compliance.hours_rules()
    )
    policy = compliance.compliance_policy()
    capped = policy.max_attempts_per_day or policy.max_attempts_per_week or policy.min_gap_minutes
    attempts: dict[str, list[datetime]] = {}
    if capped:
        phones = list({phone for _pk, phone, _zone in rows})
        for start in range(0, len(phones), 5000):
            for phone, moment in DialAttempt.objects.filter(
                phone_e164__in=phones[start : start + 5000], at__gt=at - timedelta(days=7)
            ).values_list("phone_e164", "at"):
                attempts.setdefault(phone, []).append(moment)
    for pk, phone, zone in rows:
        refusal = hours.get((phone, zone))
        if refusal is not None:
            waits.add(pk, refusal.rule)
            continue
        cap = (
            compliance.cap_refusal(policy, sorted(attempts.get(phone, [])), at) if capped else None
        )
        if cap is not None:
            waits.add(pk, cap.rule)
    return waits


def without_consent(
    campaign: Campaign, contact_ids: dict[int, int | None], at: datetime
) -> set[int]:
    """Of {entry id: contact id}, the entries whose contact lacks the consent the campaign
    requires at `at` (none when it requires none)."""
    if not campaign.required_consent_type:
        return set()
    ids = [contact_id for contact_id in contact_ids.values() if contact_id is not None]
    consented = valid_consents(ids, consent_type=campaign.required_consent_type, at=at)
    return {pk for pk, contact_id in contact_ids.items() if contact_id not in consented}


def consent_note(campaign: Campaign) -> str:
    label = ConsentType(campaign.required_consent_type).label.lower()
    return f"No valid {label} consent at dialling time."


def all_party_entries(rows: Iterable[tuple[int, str]]) -> dict[int, str]:
    """Of (entry id, number) rows, those ringing in an all-party-consent place, with its name."""
    found: dict[int, str] = {}
    for pk, phone in rows:
        place = all_party_consent_place(phone)
        if place:
            found[pk] = place
    return found


def disclosure_refusal(campaign: Campaign, contacts: Iterable[Contact]) -> str:
    """Why the campaign may not launch for lack of its recording disclosure ("" when it may):
    the disclosure variable must be in its variables and non-empty for every contact given
    (those in all-party-consent places)."""
    name = campaign.disclosure_variable
    if not name:
        return ""
    contacts = list(contacts)
    if not contacts:
        return ""
    if name not in (campaign.variables_template or {}):
        return (
            f"Recording disclosure: the variable “{name}” is not among the campaign's variables, "
            f"with {_contacts_text(len(contacts))} in places where every party must consent to "
            "recording. Add it, or clear the disclosure variable."
        )
    missing = [
        contact
        for contact in contacts
        if not str(render_variables(campaign.variables_template, contact).get(name) or "").strip()
    ]
    if not missing:
        return ""
    example = missing[0].name or missing[0].phone_e164
    return (
        f"Recording disclosure: the variable “{name}” is empty for "
        f"{_contacts_text(len(missing))} in places where every party must consent to recording "
        f"(e.g. {example})."
    )


def _contacts_text(count: int) -> str:
    return f"{count} contact" if count == 1 else f"{count} contacts"
