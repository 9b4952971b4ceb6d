"""Writes for campaigns: the audience and the transitions (launch, pause, resume, stop).

Every state change of a campaign goes through `campaign_transition`, under a lock on the
campaign row. Running a campaign is elsewhere: campaigns/dispatch.py dials paced campaigns and
records their outcomes, campaigns/native.py runs native ones on the voice platform.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from calls.sending import wait_for_calls_being_sent
from campaigns.arms import ArmError, ArmSpec, arms_assign_at_launch, arms_save
from campaigns.compliance import disclosure_refusal
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    DialEntry,
    DialState,
)
from contacts.models import Contact
from vendors.models import VendorKind

logger = logging.getLogger(__name__)

KIND_FOR_VENDOR = {
    VendorKind.REVRAG: CampaignKind.PACED,
    VendorKind.VOICE_PLATFORM: CampaignKind.NATIVE,
}


class CampaignError(Exception):
    """A campaign action that is not possible now; `message` is shown to the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTransition(CampaignError):
    """A launch, pause, resume or stop the campaign's status does not allow (API: 409)."""


# --------------------------------------------------------------------------------- audience

EDITABLE_FIELDS = (
    "name",
    "vendor_account",
    "agent",
    "variables_template",
    "window_days",
    "window_start_hour",
    "window_end_hour",
    "default_time_zone",
    "calls_per_minute",
    "max_concurrent_calls",
    "retry_rules",
    "callback_agent",
    "starts_at",
    "ends_at",
    "audience_search",
    "audience_time_zone",
    "audience_picked",
    "audience_created_from",
    "audience_created_until",
    "audience_list",
    "audience_import",
    "required_consent_type",
    "disclosure_variable",
    "schedule_time_zone",
)


def audience_contacts(
    *,
    search: str = "",
    time_zone: str = "",
    contact_ids: Iterable[int] | None = None,
    created_from: date | None = None,
    created_until: date | None = None,
    list_id: int | None = None,
    import_id: int | None = None,
) -> QuerySet[Contact]:
    """Picked contacts when ids are given, else every contact matching the filter: search,
    time zone, a list, the file of an import, added between two days (both included, in the
    server's TIME_ZONE)."""
    from contacts.selectors import contact_list

    if contact_ids is not None:
        return Contact.objects.filter(pk__in=list(contact_ids)).order_by("id")
    contacts = contact_list(
        search=search, time_zone=time_zone, list_id=list_id, import_id=import_id
    )
    if created_from is not None:
        contacts = contacts.filter(created_at__gte=_day_start(created_from))
    if created_until is not None:
        contacts = contacts.filter(created_at__lt=_day_start(created_until + timedelta(days=1)))
    return contacts.order_by("id")


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def campaign_save(
    *,
    campaign: Campaign | None,
    data: dict,
    contacts: Iterable[Contact] | None,
    created_by=None,
    arms: Sequence[ArmSpec] | None = None,
) -> Campaign:
    """Create or edit a draft campaign; `contacts` (when given) replaces its audience, `arms`
    (when given) its arms.

    `data` holds already-validated EDITABLE_FIELDS; the kind follows the vendor account, except
    that a campaign with arms is paced by callops whatever its vendors.
    """
    account = data["vendor_account"]
    # Arms left as they are (None) still make the campaign paced.
    has_arms = bool(arms) if arms is not None else bool(campaign and campaign.arms.exists())
    kind = CampaignKind.PACED if has_arms else KIND_FOR_VENDOR.get(account.kind)
    if kind is None:
        raise CampaignError(f"{account.get_kind_display()} cannot run campaigns.")
    agent = data.get("agent")
    if agent is not None and agent.vendor_account_id != account.pk:
        raise CampaignError(f"{agent} is not an agent of {account}.")
    if campaign is not None and campaign.status != CampaignStatus.DRAFT:
        raise CampaignError("Only a draft campaign can be edited.")
    with transaction.atomic():
        if campaign is None:
            campaign = Campaign(created_by=created_by)
        for name in EDITABLE_FIELDS:
            if name in data:
                setattr(campaign, name, data[name])
        campaign.kind = kind
        campaign.save()
        if contacts is not None:
            audience_set(campaign=campaign, contacts=contacts)
        if arms is not None:
            try:
                arms_save(campaign=campaign, arms=arms)
            except ArmError as exc:
                raise CampaignError(exc.message) from None
    return campaign


def audience_set(*, campaign: Campaign, contacts: Iterable[Contact]) -> int:
    """Replace a draft campaign's audience with these contacts; returns its size."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            raise CampaignError("The audience of a launched campaign cannot change.")
        DialEntry.objects.filter(campaign=locked).delete()
        entries = [
            DialEntry(
                campaign=locked,
                contact=contact,
                phone_e164=contact.phone_e164,
                time_zone=contact.time_zone or "",
            )
            for contact in contacts
        ]
        DialEntry.objects.bulk_create(entries, batch_size=1000)
    return len(entries)


# ------------------------------------------------------------------------------ transitions

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "launch": ((CampaignStatus.DRAFT, CampaignStatus.PAUSED), CampaignStatus.RUNNING),
    "pause": ((CampaignStatus.RUNNING,), CampaignStatus.PAUSED),
    "resume": ((CampaignStatus.PAUSED,), CampaignStatus.RUNNING),
    "stop": ((CampaignStatus.RUNNING, CampaignStatus.PAUSED), CampaignStatus.STOPPED),
}
ACTION_VERBS = {"launch": "launched", "pause": "paused", "resume": "resumed", "stop": "stopped"}


def allowed_actions(campaign: Campaign) -> list[str]:
    actions = [name for name, (sources, _) in TRANSITIONS.items() if campaign.status in sources]
    if campaign.kind == CampaignKind.NATIVE:
        actions = [name for name in actions if name not in ("pause", "resume")]
    if campaign.status == CampaignStatus.PAUSED and "resume" in actions:
        actions.remove("launch")  # a paused campaign is resumed; launch would do the same
    return actions


def _check_launchable(campaign: Campaign) -> None:
    account = campaign.vendor_account
    if not account.is_active:
        raise CampaignError(f"{account} is disabled.")
    arms = list(campaign.arms.select_related("vendor_account", "agent"))
    for arm in arms:
        if not arm.vendor_account.is_active:
            raise CampaignError(f"{arm.name}: {arm.vendor_account} is disabled.")
        if not arm.agent.is_active:
            raise CampaignError(f"{arm.name}: {arm.agent} is not active.")
    if arms and campaign.kind != CampaignKind.PACED:
        raise CampaignError("Only a paced campaign can have arms.")
    if not arms and KIND_FOR_VENDOR.get(account.kind) != campaign.kind:
        raise CampaignError(f"{account.get_kind_display()} cannot run a {campaign.kind} campaign.")
    if campaign.agent is None or not campaign.agent.is_active:
        raise CampaignError("Choose an active agent before launching.")
    if campaign.agent.vendor_account_id != account.pk:
        raise CampaignError(f"{campaign.agent} is not an agent of {account}.")
    if not campaign.entries.exists():
        raise CampaignError("The audience is empty: add contacts before launching.")
    if campaign.disclosure_variable:
        _check_disclosure(campaign)


def _check_disclosure(campaign: Campaign) -> None:
    """Refuse the launch while contacts to be dialled in all-party recording-consent places
    would get no recording disclosure (the campaign's disclosure variable empty for them)."""
    from campaigns.selectors import preview_groups

    groups = preview_groups(campaign)
    excluded = {
        *groups.dnc,
        *groups.consent,
        *groups.invalid,
        *groups.outside_window,
        *groups.not_dialled,
    }
    ids = [pk for pk in groups.all_party if pk not in excluded]
    contacts = Contact.objects.filter(dial_entries__in=ids).order_by("name", "id")
    refusal = disclosure_refusal(campaign, contacts)
    if refusal:
        raise CampaignError(refusal)


def campaign_transition(*, campaign_id: int, action: str) -> Campaign:
    """Launch, pause, resume or stop; raises InvalidTransition when the status forbids it."""
    if action not in TRANSITIONS:
        raise InvalidTransition(f"Unknown action {action!r}.")
    sources, target = TRANSITIONS[action]
    now = timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("vendor_account", "agent")
            .get(pk=campaign_id)
        )
        if campaign.status not in sources:
            raise InvalidTransition(
                f"A {campaign.get_status_display().lower()} campaign "
                f"cannot be {ACTION_VERBS[action]}."
            )
        if campaign.kind == CampaignKind.NATIVE and action in ("pause", "resume"):
            raise InvalidTransition(
                "The voice platform cannot pause a native campaign: stop it instead."
            )
        fields = ["status", "updated_at"]
        first_launch = action == "launch" and campaign.status == CampaignStatus.DRAFT
        if action == "launch":
            _check_launchable(campaign)
            if first_launch:
                _settle_audience(campaign, now)
                arms_assign_at_launch(campaign)
        if action in ("launch", "resume"):
            # The campaign runs from here, once the audience is settled (a second or more for a
            # large one): its pace counts from this moment, its first slot. A first run that
            # comes a moment after starts the calls due since at once, not a slot late.
            running_from = timezone.now()
            if first_launch:
                campaign.launched_at = running_from
                fields.append("launched_at")
            campaign.next_slot_at = running_from
            campaign.last_error = ""
            fields += ["next_slot_at", "last_error"]
        if action == "stop":
            campaign.stopped_at = now
            fields.append("stopped_at")
            _settle_on_stop(campaign)
        campaign.status = target
        campaign.save(update_fields=fields)
        campaign_pk = campaign.pk
        dispatch_now = settings.CALLOPS_DISPATCH_AT_LAUNCH and action in ("launch", "resume")
        if campaign.kind == CampaignKind.PACED and dispatch_now:
            # The first calls start now, not at the beat's next 2-second tick: the pace's
            # schedule counts from the launch (bench/bench_dispatcher.py measures from it).
            transaction.on_commit(lambda: _enqueue("dispatch_campaign_at_slot", campaign_pk))
        if campaign.kind == CampaignKind.NATIVE:
            if action == "launch":
                transaction.on_commit(lambda: _enqueue("push_native_campaign", campaign_pk))
            elif action == "stop" and campaign.vendor_campaign_id:
                transaction.on_commit(lambda: _enqueue("stop_native_campaign", campaign_pk))
    if action == "stop":
        # Acknowledged only once the calls claimed for sending before the stop committed have
        # been answered: none of them reaches its vendor after the stop (calls/sending.py).
        wait_for_calls_being_sent(campaign.pk)
    return campaign


def _settle_on_stop(campaign: Campaign) -> None:
    """Nobody waits for a stopped campaign: say so on every entry it will never dial again."""
    entries = DialEntry.objects.filter(campaign=campaign)
    entries.filter(state=DialState.PENDING).update(
        state=DialState.NOT_DIALLED, next_attempt_at=None, updated_at=timezone.now()
    )
    entries.filter(state=DialState.RETRY_SCHEDULED).update(
        state=DialState.RETRY_CANCELLED, next_attempt_at=None, updated_at=timezone.now()
    )


def _enqueue(task_name: str, campaign_id: int) -> None:
    from campaigns import tasks

    getattr(tasks, task_name).delay(campaign_id)


def _settle_audience(campaign: Campaign, now: datetime) -> None:
    """At first launch, mark the entries the preview excludes so they are never dialled."""
    from campaigns.selectors import preview_groups

    groups = preview_groups(campaign, now=now)
    for state, ids in (
        (DialState.SKIPPED_INVALID, groups.invalid),
        (DialState.SKIPPED_DNC, groups.dnc),
        (DialState.OUTSIDE_WINDOW, groups.outside_window),
        (DialState.SKIPPED_CONSENT, groups.consent),
    ):
        for start in range(0, len(ids), 1000):
            DialEntry.objects.filter(pk__in=ids[start : start + 1000]).update(
                state=state, updated_at=now
            )
