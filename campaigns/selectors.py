"""Reads of campaigns: lists, the launch preview, live counters, dial entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from calls.models import LIVE_STATES, Call, CommonOutcome
from calls.state import CONNECTED_OUTCOMES
from campaigns import compliance
from campaigns.models import DUE_DIAL_STATES, Campaign, CampaignStatus, DialEntry, DialState
from campaigns.schedule import has_window
from contacts.models import Contact
from contacts.phones import PhoneError, normalize_phone
from contacts.selectors import contact_list, do_not_call_numbers
from vendors.pricing import estimated_cost, recorded_minutes

PREVIEW_GROUPS = {
    "dial": "Will be dialled",
    "dnc": "On the do-not-call list",
    "consent": "Without the consent the campaign requires",
    "outside": "Outside every calling window",
    "invalid": "Without a valid number",
    "hours": "Waiting: outside calling hours",
    "holiday": "Waiting: public holiday",
    "cap": "Waiting: frequency cap",
    "all_party": "In all-party recording-consent places",
    "not_dialled": "Not dialled (stopped)",
}


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("vendor_account", "agent")


def campaign_list_with_progress() -> QuerySet[Campaign]:
    """Campaigns with `entry_count` and `settled_count`, for the list's progress bars."""
    return (
        campaign_list()
        .annotate(
            entry_count=Count("entries"),
            settled_count=Count("entries", filter=Q(entries__state__in=SETTLED)),
        )
        .order_by("-created_at", "-id")  # a GROUP BY query drops Meta.ordering
    )


def campaign_get(*, pk: int) -> Campaign:
    return campaign_list().get(pk=pk)


AUDIENCE_SAMPLE = 5
PICK_LIST_SIZE = 25


@dataclass(frozen=True)
class AudiencePreview:
    count: int
    sample: list[Contact]


def audience_preview(**audience_filter: Any) -> AudiencePreview:
    """How many contacts a campaign's audience filter selects (the arguments of
    campaigns.services.audience_contacts), and the first few of them."""
    from campaigns.services import audience_contacts

    contacts = audience_contacts(**audience_filter)
    return AudiencePreview(count=contacts.count(), sample=list(contacts[:AUDIENCE_SAMPLE]))


def pick_candidates(*, search: str, picked_ids: list[int]) -> list[Contact]:
    """The contacts offered for picking: those already picked, then the search's matches."""
    picked = list(Contact.objects.filter(pk__in=picked_ids).order_by("name", "id"))
    matches = contact_list(search=search).exclude(pk__in=picked_ids).order_by("name", "id")
    return picked + list(matches[:PICK_LIST_SIZE])


@dataclass
class PreviewGroups:
    total: int = 0
    dial: list[int] = field(default_factory=list)
    dnc: list[int] = field(default_factory=list)
    outside_window: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)
    not_dialled: list[int] = field(default_factory=list)  # the campaign stopped first
    consent: list[int] = field(default_factory=list)
    # Held back by the calling policy at the start (draft) or now (launched): dialled once
    # allowed, so in no other group.
    hours: list[int] = field(default_factory=list)
    holiday: list[int] = field(default_factory=list)
    cap: list[int] = field(default_factory=list)
    # Across every group: entries ringing in an all-party recording-consent place, its name.
    all_party: dict[int, str] = field(default_factory=dict)
    # The rule holding back each waiting entry of a draft.
    rules: dict[int, str] = field(default_factory=dict)

    def ids(self, group: str) -> list[int]:
        return {
            "dial": self.dial,
            "dnc": self.dnc,
            "outside": self.outside_window,
            "invalid": self.invalid,
            "not_dialled": self.not_dialled,
            "consent": self.consent,
            "hours": self.hours,
            "holiday": self.holiday,
            "cap": self.cap,
            "all_party": list(self.all_party),
        }.get(group, [])

    @property
    def waiting(self) -> int:
        return len(self.hours) + len(self.holiday) + len(self.cap)


def _valid_number(phone: str) -> bool:
    try:
        return normalize_phone(phone).e164 == phone
    except PhoneError:
        return False


def preview_groups(campaign: Campaign, *, now: datetime | None = None) -> PreviewGroups:
    """Who of the audience will be dialled and who not, and why (one reason each).

    Invalid numbers first, then the do-not-call list (decided from its raw entries, never from
    a past call's outcome), then the consent the campaign requires (valid at the start), then
    time zones with no calling window between the campaign's start (or now) and its end. Of the
    rest, those the calling policy refuses at the start (hours, holiday, frequency cap) wait:
    they are dialled once allowed. Entries already dialled or settled count as dialled.

    Once launched, the entries' own states answer, so the preview agrees with the list of
    entries: a pending entry is still to be dialled (the dispatcher checks every rule again at
    dialling time), one the policy put off is waiting, and a stopped campaign's entries are in
    no group of the preview.
    """
    if campaign.status != CampaignStatus.DRAFT:
        return _launched_groups(campaign)
    now = now or timezone.now()
    start = max(campaign.starts_at or now, now)
    rows = list(
        DialEntry.objects.filter(campaign=campaign).values_list(
            "pk", "phone_e164", "time_zone", "state", "contact_id"
        )
    )
    groups = PreviewGroups(total=len(rows))
    groups.all_party = compliance.all_party_entries((pk, phone) for pk, phone, *_rest in rows)
    blocked = do_not_call_numbers(phone for _pk, phone, _tz, _state, _c in rows)
    unconsented = compliance.without_consent(
        campaign, {pk: contact_id for pk, _p, _tz, _s, contact_id in rows}, start
    )
    zone_open: dict[str, bool] = {}
    settled = {DialState.SKIPPED_DNC: groups.dnc, DialState.SKIPPED_INVALID: groups.invalid}
    settled[DialState.OUTSIDE_WINDOW] = groups.outside_window
    settled[DialState.SKIPPED_CONSENT] = groups.consent
    callable_rows: list[tuple[int, str, str]] = []
    for pk, phone, tz_name, state, _contact_id in rows:
        if state in settled:
            settled[state].append(pk)
        elif state != DialState.PENDING:
            groups.dial.append(pk)
        elif not _valid_number(phone):
            groups.invalid.append(pk)
        elif phone in blocked:
            groups.dnc.append(pk)
        elif pk in unconsented:
            groups.consent.append(pk)
        else:
            if tz_name not in zone_open:
                zone_open[tz_name] = has_window(campaign, tz_name, start, campaign.ends_at)
            if zone_open[tz_name]:
                callable_rows.append((pk, phone, tz_name))
            else:
                groups.outside_window.append(pk)
    waits = compliance.policy_waits(callable_rows, at=start)
    groups.hours, groups.holiday, groups.cap = waits.hours, waits.holiday, waits.cap
    groups.rules = waits.rules
    groups.dial.extend(pk for pk, _phone, _tz in callable_rows if pk not in waits.rules)
    return groups


def _launched_groups(campaign: Campaign) -> PreviewGroups:
    rows = list(
        DialEntry.objects.filter(campaign=campaign).values_list("pk", "state", "note", "phone_e164")
    )
    groups = PreviewGroups(total=len(rows))
    groups.all_party = compliance.all_party_entries((pk, phone) for pk, *_rest, phone in rows)
    by_state = {
        DialState.SKIPPED_DNC: groups.dnc,
        DialState.SKIPPED_INVALID: groups.invalid,
        DialState.OUTSIDE_WINDOW: groups.outside_window,
        DialState.NOT_DIALLED: groups.not_dialled,
        DialState.SKIPPED_CONSENT: groups.consent,
        DialState.RETRY_CANCELLED: groups.dial,  # dialled at least once
    }
    for pk, state, note, _phone in rows:
        if state in DUE_DIAL_STATES and note.startswith(WAITING_NOTE_PREFIX):
            rule = note.removeprefix(WAITING_NOTE_PREFIX)
            getattr(groups, compliance.waiting_group(rule)).append(pk)
            continue
        by_state.get(state, groups.dial).append(pk)
    return groups


# How the dispatcher notes an entry the calling policy put off (campaigns/dispatch.py).
WAITING_NOTE_PREFIX = "Waiting: "


def dial_entries(*, campaign: Campaign, state: str = "", ids: list[int] | None = None):
    entries = DialEntry.objects.filter(campaign=campaign).select_related(
        "contact", "last_call", "arm"
    )
    if state:
        entries = entries.filter(state=state)
    if ids is not None:
        entries = entries.filter(pk__in=ids)
    return entries.order_by("id")


@dataclass
class Counters:
    total: int
    by_state: dict[str, int]
    connected: int
    by_outcome: dict[str, int]
    # (label, calls) by common outcome (calls.outcomes), for people.
    by_common_outcome: list[tuple[str, int]]
    live_calls: int
    calls_last_minute: int
    target_per_minute: int
    done: int

    @property
    def progress_percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


SETTLED = (
    DialState.COMPLETED,
    DialState.SKIPPED_CONSENT,
    DialState.EXHAUSTED,
    DialState.SKIPPED_DNC,
    DialState.SKIPPED_INVALID,
    DialState.OUTSIDE_WINDOW,
    DialState.NOT_DIALLED,
    DialState.RETRY_CANCELLED,
)


def campaign_counters(campaign: Campaign, *, now: datetime | None = None) -> Counters:
    now = now or timezone.now()
    by_state = dict.fromkeys(DialState.values, 0)
    for row in (
        DialEntry.objects.filter(campaign=campaign).values("state").annotate(count=Count("id"))
    ):
        by_state[row["state"]] = row["count"]
    by_outcome = {
        row["outcome"]: row["count"]
        for row in Call.objects.filter(campaign=campaign)
        .exclude(outcome="")
        .values("outcome")
        .annotate(count=Count("id"))
        .order_by("outcome")
    }
    by_common_outcome = [
        (CommonOutcome(row["common_outcome"]).label, row["count"])
        for row in Call.objects.filter(campaign=campaign)
        .filter(common_outcome__in=CommonOutcome.values)
        .values("common_outcome")
        .annotate(count=Count("id"))
        .order_by("-count", "common_outcome")
    ]
    return Counters(
        total=sum(by_state.values()),
        by_state=by_state,
        connected=sum(
            count for outcome, count in by_outcome.items() if outcome in CONNECTED_OUTCOMES
        ),
        by_outcome=by_outcome,
        by_common_outcome=by_common_outcome,
        live_calls=Call.objects.filter(campaign=campaign, state__in=LIVE_STATES).count(),
        calls_last_minute=Call.objects.filter(
            campaign=campaign, created_at__gt=now - timedelta(seconds=60)
        ).count(),
        target_per_minute=campaign.calls_per_minute,
        done=sum(by_state[state] for state in SETTLED),
    )


def is_live(campaign: Campaign) -> bool:
    return campaign.status == CampaignStatus.RUNNING


@dataclass(frozen=True)
class CampaignCost:
    """The minutes the campaign's calls recorded, priced at its account's price per minute."""

    seconds: int
    price_per_minute: Decimal | None
    currency: str
    # A campaign with arms calls through several accounts: the sum of each account's minutes
    # at its own price (None when one of them has no price), instead of one price.
    several_accounts: bool = False
    several_estimated: Decimal | None = None

    @property
    def minutes(self) -> Decimal:
        return recorded_minutes(self.seconds)

    @property
    def estimated(self) -> Decimal | None:
        if self.several_accounts:
            return self.several_estimated
        return estimated_cost(seconds=self.seconds, price_per_minute=self.price_per_minute)


def campaign_cost(campaign: Campaign) -> CampaignCost:
    by_account = [
        (row["vendor_account_id"], row["vendor_account__price_per_minute"], row["total"])
        for row in Call.objects.filter(campaign=campaign)
        .values("vendor_account_id", "vendor_account__price_per_minute")
        .annotate(total=Sum("duration_seconds"))
        .order_by()
    ]
    seconds = sum(total or 0 for _account, _price, total in by_account)
    several = len({account for account, _price, _total in by_account}) > 1
    estimates = [
        estimated_cost(seconds=total or 0, price_per_minute=price)
        for _account, price, total in by_account
    ]
    return CampaignCost(
        seconds=seconds,
        price_per_minute=campaign.vendor_account.price_per_minute,
        currency=settings.CALLOPS_CURRENCY,
        several_accounts=several,
        several_estimated=None
        if not several or any(value is None for value in estimates)
        else sum(estimates, Decimal(0)),
    )
