"""Writes for campaigns: audience, transitions, the paced dispatcher, outcomes, native runs.

Every state change of a campaign goes through `campaign_transition`, under a lock on the
campaign row. The paced dispatcher claims dial entries and writes their calls in one short
transaction that locks the same row and re-checks the status, so once a stop is committed no
worker starts another call of that campaign. Calls are written through
`calls.services.call_create`, which only writes: the calls app asks the vendor after commit.
Native campaigns talk to the voice platform only outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from calls.models import LIVE_STATES, Call, CallOutcome, CallState, EventSource
from calls.services import CallRejected, RetryLater, call_adopt, call_create, call_dispatch
from calls.vendor_calls import update_from_voice_platform
from campaigns.models import (
    DUE_DIAL_STATES,
    Campaign,
    CampaignKind,
    CampaignStatus,
    DialEntry,
    DialState,
)
from campaigns.schedule import in_window, render_variables, retry_rule
from contacts.models import Contact
from contacts.selectors import do_not_call_numbers, do_not_call_phones
from vendors.errors import VendorError
from vendors.models import VendorKind
from vendors.services import vendor_client_for
from vendors.voice_platform.schemas import Call as VoiceCall

logger = logging.getLogger(__name__)

BATCH_SIZE = 500  # the voice platform's bulk contacts limit
# A pace schedule further behind than this (idle, capped, outside hours) starts again from now
# instead of bursting to catch up.
CATCH_UP = timedelta(seconds=5)
PACE_WINDOW = timedelta(seconds=60)
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
    "starts_at",
    "ends_at",
    "audience_search",
    "audience_time_zone",
    "audience_picked",
    "audience_created_from",
    "audience_created_until",
    "schedule_time_zone",
)


def audience_contacts(
    *,
    search: str = "",
    time_zone: str = "",
    contact_ids: Iterable[int] | None = None,
    created_from: date | None = None,
    created_until: date | None = None,
) -> QuerySet[Contact]:
    """Picked contacts when ids are given, else every contact matching the filter.

    The creation dates are whole days (both included) in the server's TIME_ZONE.
    """
    from contacts.selectors import contact_list

    if contact_ids is not None:
        return Contact.objects.filter(pk__in=list(contact_ids)).order_by("id")
    contacts = contact_list(search=search, time_zone=time_zone)
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
) -> Campaign:
    """Create or edit a draft campaign; `contacts` (when given) replaces its audience.

    `data` holds already-validated EDITABLE_FIELDS; the kind follows the vendor account.
    """
    account = data["vendor_account"]
    kind = KIND_FOR_VENDOR.get(account.kind)
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
    if KIND_FOR_VENDOR.get(account.kind) != campaign.kind:
        raise CampaignError(f"{account.get_kind_display()} cannot run a {campaign.kind} campaign.")
    if campaign.agent is None or not campaign.agent.is_active:
        raise CampaignError("Choose an active agent before launching.")
    if campaign.agent.vendor_account_id != account.pk:
        raise CampaignError(f"{campaign.agent} is not an agent of {account}.")
    if not campaign.entries.exists():
        raise CampaignError("The audience is empty: add contacts before launching.")


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
        if action == "launch":
            _check_launchable(campaign)
            if campaign.status == CampaignStatus.DRAFT:
                _settle_audience(campaign, now)
                campaign.launched_at = now
                fields.append("launched_at")
        if action in ("launch", "resume"):
            campaign.next_slot_at = None
            campaign.last_error = ""
            fields += ["next_slot_at", "last_error"]
        if action == "stop":
            campaign.stopped_at = now
            fields.append("stopped_at")
            _settle_on_stop(campaign)
        campaign.status = target
        campaign.save(update_fields=fields)
        if campaign.kind == CampaignKind.NATIVE:
            campaign_pk = campaign.pk
            if action == "launch":
                transaction.on_commit(lambda: _enqueue("push_native_campaign", campaign_pk))
            elif action == "stop" and campaign.vendor_campaign_id:
                transaction.on_commit(lambda: _enqueue("stop_native_campaign", campaign_pk))
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
    ):
        for start in range(0, len(ids), 1000):
            DialEntry.objects.filter(pk__in=ids[start : start + 1000]).update(state=state)


# ------------------------------------------------------------------------- paced dispatcher


@dataclass
class DispatchResult:
    started: list[int] = field(default_factory=list)  # call ids
    slots: list[datetime] = field(default_factory=list)  # the scheduled start of each
    skipped_dnc: int = 0
    skipped_invalid: int = 0
    reason: str = ""
    # The next pace slot when the campaign is only waiting for it: the moment to run again.
    next_slot_at: datetime | None = None


def _open_time_zones(campaign: Campaign, due: QuerySet[DialEntry], now: datetime) -> list[str]:
    zones = set(due.values_list("time_zone", flat=True).distinct())
    return [name for name in zones if in_window(campaign, name, now)]


def dispatch_due(campaign_id: int, *, now: datetime | None = None) -> DispatchResult:
    """Start the calls a running paced campaign may start now; safe to run on many workers."""
    result = DispatchResult()
    with transaction.atomic():
        # The lock a stop also takes: a stop committed before this sees no running campaign,
        # a stop that comes later waits until these calls are written.
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("vendor_account", "agent")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None or campaign.kind != CampaignKind.PACED:
            result.reason = "not a paced campaign"
            return result
        if campaign.status != CampaignStatus.RUNNING:
            result.reason = f"campaign is {campaign.status}"
            return result
        now = now or timezone.now()
        if campaign.starts_at and now < campaign.starts_at:
            result.reason = "not started yet"
            return result
        entries = DialEntry.objects.filter(campaign=campaign)
        if campaign.ends_at and now >= campaign.ends_at:
            _finish(campaign, entries, now, ended=True)
            result.reason = "ended"
            return result

        recent = entries.filter(last_attempt_at__gt=now - PACE_WINDOW).count()
        live = Call.objects.filter(campaign=campaign, state__in=LIVE_STATES).count()
        budget = min(campaign.calls_per_minute - recent, campaign.max_concurrent_calls - live)
        interval = timedelta(seconds=60 / campaign.calls_per_minute)
        slot = campaign.next_slot_at or now
        if slot < now - CATCH_UP:
            slot = now
        slots: list[datetime] = []
        while len(slots) < budget and slot <= now:
            slots.append(slot)
            slot += interval
        if not slots:
            result.reason = "pace" if budget > 0 else "rate or concurrency cap"
            if budget > 0:
                result.next_slot_at = slot
            return result

        due = entries.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            state__in=DUE_DIAL_STATES,
        )
        open_zones = _open_time_zones(campaign, due, now)
        claimable = (
            due.filter(time_zone__in=open_zones)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("contact")
            .order_by("attempts", "next_attempt_at", "id")
        )
        claimed_any = False
        swept = False
        # An entry skipped at dialling time (do-not-call, deleted contact, bad number) gives its
        # slot to the next one: entries are claimed again until the slots are used. (Skipped and
        # dialled entries left the due states in this transaction, so they are not claimed twice.)
        for _round in range(CLAIM_ROUNDS):
            wanted = len(slots) - len(result.started)
            claimed = list(claimable[:wanted]) if wanted > 0 else []
            if not claimed:
                break
            claimed_any = True
            skipped_before = result.skipped_dnc
            if not _dial_entries(campaign, claimed, slots, result):
                break  # paused
            if result.skipped_dnc > skipped_before and not swept:
                # Numbers put on the list since launch often come as a batch (an opt-out
                # export): skip every due one now in one statement rather than one per
                # claim round, which would leave the slot empty for several runs.
                result.skipped_dnc += _skip_due_on_do_not_call(due)
                swept = True
        if not claimed_any:
            if not entries.filter(state__in=(*DUE_DIAL_STATES, DialState.DIALLING)).exists():
                _finish(campaign, entries, now, ended=False)
                result.reason = "done"
            else:
                result.reason = "nothing due in a calling window"
            return result
        if result.started:
            campaign.next_slot_at = result.slots[-1] + interval
            campaign.save(update_fields=["next_slot_at", "updated_at"])
            result.next_slot_at = campaign.next_slot_at
        elif campaign.status == CampaignStatus.RUNNING:
            # Every claimed entry was skipped: the slot is still free, run again at once.
            result.next_slot_at = slots[0]
    return result


# Claim rounds a dispatcher run makes when entries it claimed had to be skipped.
CLAIM_ROUNDS = 5


def _dial_entries(
    campaign: Campaign, claimed: list[DialEntry], slots: list[datetime], result: DispatchResult
) -> bool:
    """Writes the calls of the claimed entries on the next free slots; False if the campaign
    had to be paused (its account or agent cannot call any more)."""
    # The do-not-call list may have changed since launch: decided from its raw entries.
    blocked = do_not_call_numbers(entry.phone_e164 for entry in claimed)
    for entry in claimed:
        if entry.phone_e164 in blocked:
            _skip(entry, DialState.SKIPPED_DNC, DNC_AT_DIALLING_NOTE)
            result.skipped_dnc += 1
            continue
        if entry.contact is None:
            _skip(entry, DialState.SKIPPED_INVALID, "The contact was deleted.")
            result.skipped_invalid += 1
            continue
        try:
            call, _created = call_create(
                vendor_account=campaign.vendor_account,
                agent=campaign.agent,
                contact=entry.contact,
                variables=render_variables(campaign.variables_template, entry.contact),
                metadata={"campaign_id": campaign.pk, "dial_entry_id": entry.pk},
                campaign_id=campaign.pk,
                source=EventSource.SYSTEM,
            )
        except CallRejected as exc:
            if exc.field == "to_number":
                _skip(entry, DialState.SKIPPED_INVALID, exc.message)
                result.skipped_invalid += 1
                continue
            # The account or agent cannot call any more: nobody of this campaign can be dialled.
            campaign.status = CampaignStatus.PAUSED
            campaign.last_error = f"Paused: {exc.message}"[:500]
            campaign.save(update_fields=["status", "last_error", "updated_at"])
            result.reason = campaign.last_error
            return False
        slot = slots[len(result.started)]
        entry.state = DialState.DIALLING
        entry.attempts += 1
        # The slot, not the clock: the pace window counts slots, so a call started a little
        # late does not take the place of the one a minute later.
        entry.last_attempt_at = slot
        entry.next_attempt_at = None
        entry.last_call = call
        entry.last_outcome = ""
        entry.save(
            update_fields=[
                "state",
                "attempts",
                "last_attempt_at",
                "next_attempt_at",
                "last_call",
                "last_outcome",
                "updated_at",
            ]
        )
        result.slots.append(slot)
        result.started.append(call.pk)
    return True


def start_calls_now(result: DispatchResult) -> None:
    """Asks the vendor for the calls a dispatcher run just wrote, here and at once.

    Each call's own dispatch task was queued when it was written, but behind whatever else the
    workers have queued (a round of syncs can hold it for seconds): starting it here keeps the
    call on its slot. Whichever comes second finds the call claimed and does nothing; a call the
    vendor cannot take now is left to its queued task, which retries it.
    """
    for call_id in result.started:
        try:
            call_dispatch(call_id=call_id)
        except RetryLater:
            continue
        except Exception:
            logger.exception("starting call %s of a campaign at its slot failed", call_id)


# How far ahead a campaign's next run is booked (an ETA task); beyond it the beat takes over.
WAKE_HORIZON = timedelta(minutes=5)


def book_next_run(campaign_id: int, result: DispatchResult, *, owned: str = "") -> datetime | None:
    """The time the campaign's dispatcher should run next (its next pace slot), or None.

    Booked once per slot across workers (an atomic cache add), so the beat and the run at the
    previous slot do not both queue it. The run booked for a slot (`owned`, its isoformat)
    that finds that slot still ahead (a timer fired a few milliseconds early) books it again.
    The beat every 2 s still starts campaigns and restarts the chain if a worker lost it; the
    booked runs are what start calls on time.
    """
    wake = result.next_slot_at
    if wake is None or wake - timezone.now() > WAKE_HORIZON:
        return None
    if owned and wake.isoformat() == owned:
        return wake
    key = f"campaign-run:{campaign_id}:{wake.timestamp():.3f}"
    if not cache.add(key, 1, timeout=int(WAKE_HORIZON.total_seconds()) + 60):
        return None
    return wake


DNC_AT_DIALLING_NOTE = "On the do-not-call list at dialling time."


def _skip_due_on_do_not_call(due: QuerySet[DialEntry]) -> int:
    """Marks every due entry whose number is on the do-not-call list as skipped; how many."""
    return due.filter(phone_e164__in=do_not_call_phones()).update(
        state=DialState.SKIPPED_DNC,
        note=DNC_AT_DIALLING_NOTE,
        next_attempt_at=None,
        updated_at=timezone.now(),  # what auto_now would write; update() skips it
    )


def _skip(entry: DialEntry, state: str, note: str) -> None:
    entry.state = state
    entry.note = note[:300]
    entry.next_attempt_at = None
    entry.save(update_fields=["state", "note", "next_attempt_at", "updated_at"])


def _finish(
    campaign: Campaign, entries: QuerySet[DialEntry], now: datetime, *, ended: bool
) -> None:
    """Complete the campaign; past its end, entries never dialled are outside every window."""
    if ended:
        entries.filter(state__in=DUE_DIAL_STATES).update(
            state=DialState.OUTSIDE_WINDOW, note="The campaign ended before a calling window."
        )
        if entries.filter(state=DialState.DIALLING).exists():
            return  # completed once the calls in progress have ended
    campaign.status = CampaignStatus.COMPLETED
    campaign.save(update_fields=["status", "updated_at"])


def running_paced_campaign_ids() -> list[int]:
    return list(
        Campaign.objects.filter(kind=CampaignKind.PACED, status=CampaignStatus.RUNNING).values_list(
            "pk", flat=True
        )
    )


# -------------------------------------------------------------------------------- outcomes


def record_outcomes(*, campaign_id: int | None = None, limit: int = 500) -> int:
    """Move entries whose call has ended to completed, retry_scheduled or exhausted."""
    entries = DialEntry.objects.filter(
        state=DialState.DIALLING, last_call__state__in=(CallState.ENDED, CallState.FAILED)
    )
    if campaign_id is not None:
        entries = entries.filter(campaign_id=campaign_id)
    done = 0
    for entry_id in list(entries.values_list("pk", flat=True)[:limit]):
        done += record_outcome(entry_id=entry_id)
    return done


def record_outcome(*, entry_id: int, now: datetime | None = None) -> int:
    """Apply the retry rules to one entry whose call ended; 1 if it moved, 0 if not (yet)."""
    with transaction.atomic():
        entry = (
            DialEntry.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign", "last_call")
            .filter(pk=entry_id, state=DialState.DIALLING)
            .first()
        )
        if entry is None or entry.last_call is None:
            return 0
        call = entry.last_call
        if call.state not in (CallState.ENDED, CallState.FAILED):
            return 0
        outcome = call.outcome or (CallOutcome.ERROR if call.state == CallState.FAILED else "")
        # A native campaign's vendor retries on its own: its entries only record the outcome.
        native = entry.campaign.kind == CampaignKind.NATIVE
        rule = None if native else retry_rule(entry.campaign, outcome)
        entry.last_outcome = outcome
        if rule is None:
            entry.state = DialState.COMPLETED
            entry.next_attempt_at = None
        elif entry.attempts >= rule["max_attempts"]:
            entry.state = DialState.EXHAUSTED
            entry.next_attempt_at = None
        elif entry.campaign.status == CampaignStatus.STOPPED:
            entry.state = DialState.RETRY_CANCELLED  # the call ended after the stop
            entry.next_attempt_at = None
        else:
            ended = call.ended_at or now or timezone.now()
            entry.state = DialState.RETRY_SCHEDULED
            entry.next_attempt_at = ended + timedelta(minutes=rule["retry_after_minutes"])
        entry.save(update_fields=["state", "last_outcome", "next_attempt_at", "updated_at"])
    return 1


# ------------------------------------------------------------------------ native campaigns


def _native_contacts(entries: list[DialEntry]) -> list[dict]:
    contacts = []
    for entry in entries:
        item: dict = {"phone": entry.phone_e164}
        if entry.contact is not None:
            if entry.contact.name:
                item["name"] = entry.contact.name
            if entry.contact.email:
                item["email"] = entry.contact.email
        contacts.append(item)
    return contacts


def _native_audience(campaign: Campaign) -> QuerySet[DialEntry]:
    return (
        DialEntry.objects.filter(campaign=campaign)
        .exclude(
            state__in=(
                DialState.SKIPPED_DNC,
                DialState.SKIPPED_INVALID,
                DialState.OUTSIDE_WINDOW,
            )
        )
        .select_related("contact")
        .order_by("id")
    )


def _native_running(campaign_id: int) -> Campaign | None:
    return (
        Campaign.objects.select_related("vendor_account", "agent")
        .filter(pk=campaign_id, kind=CampaignKind.NATIVE, status=CampaignStatus.RUNNING)
        .first()
    )


def native_push(*, campaign_id: int) -> str:
    """Create the vendor campaign, push the audience batch by batch, then launch it.

    Resumable: each step is recorded when it succeeds (vendor id, batches pushed), and every
    request carries an idempotency key derived from the campaign and the step, so a retry
    after a crash repeats nothing at the vendor.
    """
    campaign = _native_running(campaign_id)
    if campaign is None:
        return "not running"
    client = vendor_client_for(campaign.vendor_account)
    prefix = f"callops-campaign-{campaign.pk}"
    if not campaign.vendor_campaign_id:
        created = client.create_campaign(
            name=campaign.name,
            agent_id=campaign.agent.vendor_agent_id,
            idempotency_key=f"{prefix}-create",
        )
        Campaign.objects.filter(pk=campaign.pk, vendor_campaign_id="").update(
            vendor_campaign_id=created.id
        )
        campaign.refresh_from_db()
    entries = list(_native_audience(campaign))
    batches = [entries[start : start + BATCH_SIZE] for start in range(0, len(entries), BATCH_SIZE)]
    for index in range(campaign.pushed_batches, len(batches)):
        if _native_running(campaign.pk) is None:
            return "stopped while pushing"
        batch = batches[index]
        client.upsert_contacts(
            _native_contacts(batch),
            campaign_id=campaign.vendor_campaign_id,
            idempotency_key=f"{prefix}-batch-{index}",
        )
        with transaction.atomic():
            DialEntry.objects.filter(pk__in=[entry.pk for entry in batch]).update(
                state=DialState.DIALLING
            )
            Campaign.objects.filter(pk=campaign.pk).update(pushed_batches=index + 1)
    if _native_running(campaign.pk) is None:
        return "stopped before launch"
    launched = client.launch_campaign(
        campaign.vendor_campaign_id, idempotency_key=f"{prefix}-launch"
    )
    _store_stats(campaign.pk, launched)
    return "launched"


def native_stop(*, campaign_id: int) -> None:
    campaign = Campaign.objects.select_related("vendor_account").get(pk=campaign_id)
    if not campaign.vendor_campaign_id:
        return
    client = vendor_client_for(campaign.vendor_account)
    stopped = client.stop_campaign(
        campaign.vendor_campaign_id, idempotency_key=f"callops-campaign-{campaign.pk}-stop"
    )
    _store_stats(campaign.pk, stopped)
    # The calls the vendor placed since the last sync, now, while the page shows the stop;
    # the sync goes on for a while after a stop in case this fails (native_campaign_ids_to_sync).
    _adopt_native_calls_or_note(campaign)


def native_sync(*, campaign_id: int) -> None:
    """Progress of a native campaign from the vendor's stats; completed when the vendor says so."""
    campaign = Campaign.objects.select_related("vendor_account").get(pk=campaign_id)
    if not campaign.vendor_campaign_id:
        return
    try:
        remote = vendor_client_for(campaign.vendor_account).get_campaign(
            campaign.vendor_campaign_id
        )
    except VendorError as exc:
        _note_sync_failure(campaign.pk, exc)
        return
    _store_stats(campaign.pk, remote)
    if not _adopt_native_calls_or_note(campaign):
        return
    if remote.status.lower() in ("completed", "finished", "done"):
        Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.RUNNING).update(
            status=CampaignStatus.COMPLETED
        )


def _adopt_native_calls_or_note(campaign: Campaign) -> bool:
    """_adopt_native_calls; False, with the reason on the campaign's page, if the vendor failed."""
    try:
        _adopt_native_calls(campaign)
    except VendorError as exc:
        _note_sync_failure(campaign.pk, exc)
        return False
    return True


def _note_sync_failure(campaign_id: int, exc: VendorError) -> None:
    Campaign.objects.filter(pk=campaign_id).update(last_error=f"Sync failed: {exc}"[:500])


def _adopt_native_calls(campaign: Campaign) -> int:
    """Stores the calls the vendor placed for the campaign that callops does not know yet, each
    linked to its contact's dial entry; how many.

    The vendor lists a campaign's calls newest first, with their total. The pages are read from
    the newest until every call of the total is known here (usually one page: the new calls are
    on top; a sync cut short only makes the next one read deeper). Calls that arrive during the
    walk push the others down the list, so none is skipped. The new ones are stored oldest
    first, as they were placed.
    """
    client = vendor_client_for(campaign.vendor_account)
    known_count = (
        Call.objects.filter(vendor_account=campaign.vendor_account, campaign=campaign)
        .exclude(vendor_call_id="")
        .count()
    )
    fresh: dict[str, VoiceCall] = {}
    offset = 0
    while True:
        page = client.list_calls(
            campaign_id=campaign.vendor_campaign_id, offset=offset, limit=NATIVE_CALL_PAGE
        )
        ids = [remote.id for remote in page.items]
        known = set(
            Call.objects.filter(
                vendor_account=campaign.vendor_account, vendor_call_id__in=ids
            ).values_list("vendor_call_id", flat=True)
        )
        for remote in page.items:
            if remote.id not in known:
                fresh.setdefault(remote.id, remote)
        offset += len(page.items)
        if not page.items or offset >= page.total or known_count + len(fresh) >= page.total:
            break
    return _adopt_native_call_list(campaign, list(reversed(fresh.values())))


# The voice platform's largest page of calls.
NATIVE_CALL_PAGE = 100


def _adopt_native_call_list(campaign: Campaign, fresh: list[VoiceCall]) -> int:
    entries = {
        entry.phone_e164: entry
        for entry in DialEntry.objects.filter(
            campaign=campaign, phone_e164__in=[remote.phone for remote in fresh if remote.phone]
        ).select_related("contact")
    }
    adopted = 0
    for remote in fresh:
        entry = entries.get(remote.phone or "")
        call = call_adopt(
            vendor_account=campaign.vendor_account,
            update=update_from_voice_platform(remote),
            to_number=remote.phone or "",
            agent=campaign.agent,
            contact=entry.contact if entry is not None else None,
            campaign_id=campaign.pk,
        )
        if call is None:
            continue
        adopted += 1
        if entry is not None:
            # The vendor dials (and retries) on its own: the entry follows its latest call.
            DialEntry.objects.filter(pk=entry.pk).update(
                state=DialState.DIALLING,
                attempts=F("attempts") + 1,
                last_attempt_at=call.created_at,
                last_call=call,
                last_outcome="",
                updated_at=timezone.now(),
            )
    return adopted


def _store_stats(campaign_id: int, remote) -> None:
    stats = {
        "status": remote.status,
        "contacts": remote.stats.contacts,
        "dialled": remote.stats.dialled,
        "connected": remote.stats.connected,
        "completed": remote.stats.completed,
        "synced_at": timezone.now().isoformat(),
    }
    Campaign.objects.filter(pk=campaign_id).update(vendor_stats=stats, last_error="")


# How long a stopped native campaign is still synced: its last calls, placed just before the
# stop, are stored and their contacts get an outcome.
NATIVE_SYNC_AFTER_STOP = timedelta(minutes=15)


def native_campaign_ids_to_sync() -> list[int]:
    recently_stopped = Q(
        status=CampaignStatus.STOPPED, updated_at__gte=timezone.now() - NATIVE_SYNC_AFTER_STOP
    )
    return list(
        Campaign.objects.filter(Q(status=CampaignStatus.RUNNING) | recently_stopped)
        .filter(kind=CampaignKind.NATIVE)
        .exclude(vendor_campaign_id="")
        .values_list("pk", flat=True)
    )


def native_failed(*, campaign_id: int, reason: str) -> None:
    """The vendor refused for good: keep the reason where the campaign's page shows it."""
    Campaign.objects.filter(pk=campaign_id).update(last_error=reason[:500])
