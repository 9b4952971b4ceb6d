"""The paced dispatcher and the outcomes of its calls.

The dispatcher claims dial entries and writes their calls in one short transaction that locks
the campaign row and re-checks the status, so once a stop is committed no worker starts another
call of that campaign. Calls are written through `calls.services.call_create`, which only
writes: the calls app asks the vendor after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from calls.models import LIVE_STATES, Call, CallOutcome, CallState, CommonOutcome, EventSource
from calls.services import (
    CallNotAllowedNow,
    CallRejected,
    ConcurrencyLimitReached,
    RetryLater,
    call_create,
    call_dispatch,
)
from campaigns import compliance as campaign_compliance
from campaigns.callbacks import dial_due_callbacks
from campaigns.failover import ArmChoice, ArmRouter, arm_headroom, move_unsent_calls
from campaigns.models import (
    DUE_DIAL_STATES,
    Campaign,
    CampaignArm,
    CampaignKind,
    CampaignStatus,
    DialEntry,
    DialState,
)
from campaigns.schedule import in_window, render_variables, retry_rule
from contacts import compliance
from contacts.selectors import do_not_call_numbers, do_not_call_phones
from vendors import breaker
from vendors.models import BreakerState, CircuitBreaker

logger = logging.getLogger(__name__)

# A pace schedule further behind than this (idle, capped, outside hours) starts again from now
# instead of bursting to catch up.
CATCH_UP = timedelta(seconds=5)
PACE_WINDOW = timedelta(seconds=60)


# ------------------------------------------------------------------------- paced dispatcher


@dataclass
class DispatchResult:
    started: list[int] = field(default_factory=list)  # call ids
    slots: list[datetime] = field(default_factory=list)  # the scheduled start of each
    skipped_dnc: int = 0
    skipped_invalid: int = 0
    skipped_consent: int = 0
    # Entries the calling policy (hours, frequency caps) put off to its next allowed time.
    deferred: int = 0
    deferred_for_hours: int = 0  # of those, by the calling hours (not by a cap)
    spilled: int = 0  # calls placed through a backup arm (campaigns.failover)
    moved: int = 0  # calls written earlier, moved unsent to a backup arm (campaigns.failover)
    reason: str = ""
    # The next pace slot when the campaign is only waiting for it: the moment to run again.
    next_slot_at: datetime | None = None
    callbacks: int = 0  # of the started calls, callbacks a contact asked for


def _open_time_zones(campaign: Campaign, due: QuerySet[DialEntry], now: datetime) -> list[str]:
    zones = set(due.values_list("time_zone", flat=True).distinct())
    return [name for name in zones if in_window(campaign, name, now)]


def dispatch_due(campaign_id: int, *, now: datetime | None = None) -> DispatchResult:
    """Start the calls a running paced campaign may start now; safe to run on many workers."""
    result = DispatchResult()
    with transaction.atomic():
        # A lock a stop's (FOR UPDATE) conflicts with: a stop committed before this sees no
        # running campaign, a stop that comes later waits until these calls are written. NO
        # KEY UPDATE, so that senders claiming the previous run's calls under their KEY SHARE
        # lock (calls/sending.py) do not wait for this run; two runs still exclude each other.
        campaign = (
            Campaign.objects.select_for_update(of=("self",), no_key=True)
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
        result.moved = move_unsent_calls(campaign, now)

        recent = entries.filter(last_attempt_at__gt=now - PACE_WINDOW).count()
        live = Call.objects.filter(campaign=campaign, state__in=LIVE_STATES).count()
        budget = min(campaign.calls_per_minute - recent, campaign.max_concurrent_calls - live)
        # The governor's live-call limits (each arm's account and total): at 0 the campaign
        # waits; so it does while the account's circuit breaker refuses requests.
        free, held_arms = arm_headroom(campaign)
        if free is not None and free < budget:
            budget = free
            result.reason = "live-call limit" if free <= 0 else ""
        # With arms, each arm's breaker decides for its own dials (campaigns.failover: they
        # spill to a backup or wait); without, the campaign's account's breaker.
        if campaign.arm_seed is None and not breaker.allows_call(campaign.vendor_account_id):
            budget = 0
            result.reason = "vendor circuit breaker open"
        interval = timedelta(seconds=60 / campaign.calls_per_minute)
        slot = campaign.next_slot_at or now
        if slot < now - CATCH_UP:
            slot = now
        slots: list[datetime] = []
        while len(slots) < budget and slot <= now:
            slots.append(slot)
            slot += interval
        if not slots:
            result.reason = "pace" if budget > 0 else result.reason or "rate or concurrency cap"
            if budget > 0:
                result.next_slot_at = slot
            return result
        # Callbacks contacts asked for take the first slots (campaigns/callbacks.py).
        dial_due_callbacks(campaign, slots, result, now=now)

        due = entries.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            state__in=DUE_DIAL_STATES,
        )
        open_zones = _open_time_zones(campaign, due, now)
        claimable = (
            due.filter(time_zone__in=open_zones)
            # A stopped arm dials no more (its undialled contacts were drawn into the others).
            .filter(Q(arm__isnull=True) | Q(arm__stopped_at__isnull=True))
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("contact")
            .order_by("attempts", "next_attempt_at", "id")
        )
        claimed_any = False
        swept = False
        swept_hours = False
        # An entry skipped at dialling time (do-not-call, deleted contact, bad number) gives its
        # slot to the next one: entries are claimed again until the slots are used. (Skipped and
        # dialled entries left the due states in this transaction, so they are not claimed twice.)
        for _round in range(CLAIM_ROUNDS):
            wanted = len(slots) - len(result.started)
            # An arm whose account is at its live-call limit waits; the other arms dial.
            claim = claimable.exclude(arm_id__in=held_arms) if held_arms else claimable
            claimed = list(claim[:wanted]) if wanted > 0 else []
            if not claimed:
                break
            claimed_any = True
            skipped_before = result.skipped_dnc
            if not _dial_entries(campaign, claimed, slots, result, held_arms):
                break  # paused
            if result.deferred_for_hours and not swept_hours:
                # The hours that held one entry back usually hold back many (a state's evening
                # while the campaign's window is still open): put every such due entry off now,
                # in one pass, rather than a few per claim round while the slots stay empty.
                result.deferred += _defer_due_outside_hours(due.filter(time_zone__in=open_zones))
                swept_hours = True
            if result.skipped_dnc > skipped_before and not swept:
                # Numbers put on the list since launch often come as a batch (an opt-out
                # export): skip every due one now in one statement rather than one per
                # claim round, which would leave the slot empty for several runs.
                result.skipped_dnc += _skip_due_on_do_not_call(due)
                swept = True
        if not claimed_any and not result.started:
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
        elif campaign.status == CampaignStatus.RUNNING and not result.reason:
            # Every claimed entry was skipped: the slot is still free, run again at once.
            result.next_slot_at = slots[0]
    return result


# Claim rounds a dispatcher run makes when entries it claimed had to be skipped.
CLAIM_ROUNDS = 5


def _dial_entries(
    campaign: Campaign,
    claimed: list[DialEntry],
    slots: list[datetime],
    result: DispatchResult,
    held_arms: set[int],
) -> bool:
    """Writes the calls of the claimed entries on the next free slots; False if the campaign
    had to be paused (its account or agent cannot call any more). An arm whose account turns
    out full is added to `held_arms`."""
    # The do-not-call list may have changed since launch: decided from its raw entries.
    blocked = do_not_call_numbers(entry.phone_e164 for entry in claimed)
    # Every arm of the campaign (at most 4): a backup may be an arm nobody claimed was drawn into.
    arms = {
        arm.pk: arm
        for arm in CampaignArm.objects.filter(campaign=campaign).select_related(
            "vendor_account", "agent"
        )
    }
    # Consent may have expired or been deleted since launch: checked again now.
    unconsented = campaign_compliance.without_consent(
        campaign, {entry.pk: entry.contact_id for entry in claimed}, timezone.now()
    )
    # Which arm places each dial (its own, its backup, or none while its vendor's breaker is
    # open): decided before the call is written, nothing is sent before this commits.
    router = ArmRouter(arms, timezone.now(), timedelta(seconds=60 / campaign.calls_per_minute))
    probing = _cool_downs_over(arms.values())
    for entry in claimed:
        if entry.phone_e164 in blocked:
            _skip(entry, DialState.SKIPPED_DNC, DNC_AT_DIALLING_NOTE)
            result.skipped_dnc += 1
            continue
        if entry.pk in unconsented:
            _skip(entry, DialState.SKIPPED_CONSENT, campaign_compliance.consent_note(campaign))
            result.skipped_consent += 1
            continue
        if entry.contact is None:
            _skip(entry, DialState.SKIPPED_INVALID, "The contact was deleted.")
            result.skipped_invalid += 1
            continue
        arm = arms.get(entry.arm_id) if entry.arm_id else None
        metadata = {"campaign_id": campaign.pk, "dial_entry_id": entry.pk}
        if arm is not None:
            choice = _one_probe_dial(router.choose(arm, slots[len(result.started)]), arms, probing)
            if choice.arm is None:
                _wait_for_vendor(entry, arm, choice)
                result.deferred += 1
                continue
            if choice.spilled_from is not None:
                metadata["spilled_from_arm_id"] = choice.spilled_from.pk
                result.spilled += 1
            arm = choice.arm
            metadata["campaign_arm_id"] = arm.pk  # what the arm comparison groups by
        try:
            call, _created = call_create(
                vendor_account=arm.vendor_account if arm else campaign.vendor_account,
                agent=arm.agent if arm else campaign.agent,
                contact=entry.contact,
                variables=render_variables(
                    (arm.variables_template if arm else None) or campaign.variables_template,
                    entry.contact,
                ),
                metadata=metadata,
                campaign_id=campaign.pk,
                source=EventSource.SYSTEM,
            )
        except ConcurrencyLimitReached:
            # Another worker took the last free slot: this entry stays due and is dialled
            # once a call ends (the beat runs the campaign again); other arms' dials go on.
            result.reason = "live-call limit"
            if arm is None:
                return False
            held_arms.add(entry.arm_id)
            continue
        except CallNotAllowedNow as exc:
            _defer(entry, exc)
            result.deferred += 1
            result.deferred_for_hours += exc.outside_hours
            continue
        except CallRejected as exc:
            if exc.field == "to_number":
                _skip(entry, DialState.SKIPPED_INVALID, exc.message)
                result.skipped_invalid += 1
                continue
            # The account or agent cannot call any more: nobody of this campaign can be dialled.
            campaign.status = CampaignStatus.PAUSED
            where = f"{arm.name}: " if arm else ""
            campaign.last_error = f"Paused: {where}{exc.message}"[:500]
            campaign.save(update_fields=["status", "last_error", "updated_at"])
            result.reason = campaign.last_error
            return False
        if arm is not None:
            router.placed(arm)
        slot = slots[len(result.started)]
        entry.state = DialState.DIALLING
        entry.attempts += 1
        # The slot, not the clock: the pace window counts slots, so a call started a little
        # late does not take the place of the one a minute later.
        entry.last_attempt_at = slot
        entry.next_attempt_at = None
        entry.last_call = call
        entry.last_outcome = ""
        entry.note = ""  # a policy wait, now over
        entry.save(
            update_fields=[
                "note",
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


# How long an arm's dial waits, without a usable backup, for the answer to its vendor's probe.
PROBE_ANSWER_WAIT = timedelta(seconds=2)


def _cool_downs_over(arms: Iterable[CampaignArm]) -> dict[int, datetime]:
    """The arms' vendor accounts whose breaker is not closed: the end of each one's cool-down
    (one query a run, for a campaign with arms)."""
    accounts = {arm.vendor_account_id for arm in arms}
    if not accounts:
        return {}
    rows = (
        CircuitBreaker.objects.filter(account_id__in=accounts)
        .exclude(state=BreakerState.CLOSED)
        .values_list("account_id", "open_until")
    )
    return {account_id: open_until for account_id, open_until in rows if open_until is not None}


def _one_probe_dial(
    choice: ArmChoice, arms: dict[int, CampaignArm], probing: dict[int, datetime]
) -> ArmChoice:
    """One dial per cool-down is the probe of an arm whose breaker lets a probe through; the
    arm's other dials go to its backup (or wait a moment) meanwhile.

    `arm_for_attempt` sends an arm's dials to its own vendor as soon as the cool-down is over,
    but the breaker lets one request through, the probe: every other dial written for the arm
    until the probe is answered was refused before any request, its slot lost (the failover
    benchmark lost one or two slots per cool-down, a catch-up run writing several at once).
    The probe's dial is chosen once across runs and workers (an atomic cache add per account
    and cool-down).
    """
    arm = choice.arm
    if arm is None or choice.spilled_from is not None:
        return choice
    open_until = probing.get(arm.vendor_account_id)
    if open_until is None:
        return choice  # closed: every dial goes
    key = f"probe-dial:{arm.vendor_account_id}:{open_until.timestamp():.3f}"
    if cache.add(key, 1, timeout=int(PROBE_DIAL_LEASE.total_seconds())):
        return choice  # this dial is the probe
    backup = arms.get(arm.backup_arm_id) if arm.backup_arm_id else None
    if (
        backup is not None
        and backup.pk != arm.pk
        and not backup.is_stopped
        and breaker.allows_call(backup.vendor_account_id)
    ):
        return ArmChoice(backup, spilled_from=arm)
    return ArmChoice(None, retry_at=timezone.now() + PROBE_ANSWER_WAIT)


# After this long without an answer to the probe's dial (its worker died), another dial probes.
PROBE_DIAL_LEASE = timedelta(seconds=60)


def start_calls_now(result: DispatchResult) -> None:
    """Asks the vendor for the calls a dispatcher run just wrote, here and at once.

    Each call's own dispatch task was queued when it was written, but behind whatever else the
    workers have queued (a round of syncs can hold it for seconds): starting it here keeps the
    call on its slot. Whichever comes second finds the call claimed and does nothing; a call the
    vendor cannot take now is left to its queued task, which retries it.

    One request each, no backoff here: while a vendor drops connections, the HTTP core's retries
    slept seconds per call in this task, holding the workers that start every campaign's next
    slots (the failover benchmark lost a dozen slots to it before the breaker opened).
    """
    for call_id in result.started:
        try:
            call_dispatch(call_id=call_id, single_try=True)
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


# When the policy knows no allowed moment within two weeks, the entry is looked at again then.
DEFER_WITHOUT_OPENING = timedelta(days=1)


def _defer(entry: DialEntry, refusal: CallNotAllowedNow) -> None:
    """Put the entry off to the policy's next allowed time, the rule shown as its note; it
    stays due (not failed) and gives its slot to the next entry."""
    entry.next_attempt_at = refusal.retry_at or timezone.now() + DEFER_WITHOUT_OPENING
    entry.note = f"Waiting: {refusal.message}"[:300]
    entry.save(update_fields=["next_attempt_at", "note", "updated_at"])


def _defer_due_outside_hours(due: QuerySet[DialEntry]) -> int:
    """Puts off every due entry the calling hours forbid now, as _defer does; how many."""
    now = timezone.now()
    rows = list(due.values_list("pk", "phone_e164", "time_zone"))
    waits = compliance.hours_waits(
        {(phone, zone) for _pk, phone, zone in rows}, at=now, rules=compliance.hours_rules()
    )
    by_wait: dict[tuple[datetime, str], list[int]] = {}
    for pk, phone, zone in rows:
        refusal = waits.get((phone, zone))
        if refusal is not None:
            retry_at = refusal.retry_at or now + DEFER_WITHOUT_OPENING
            by_wait.setdefault((retry_at, f"Waiting: {refusal.rule}."[:300]), []).append(pk)
    deferred = 0
    for (retry_at, note), pks in by_wait.items():
        deferred += DialEntry.objects.filter(pk__in=pks).update(
            next_attempt_at=retry_at, note=note, updated_at=now
        )
    return deferred


def _wait_for_vendor(entry: DialEntry, arm: CampaignArm, choice: ArmChoice) -> None:
    """The entry's arm cannot reach its vendor and has no usable backup: it waits, still due,
    until the breaker's cool-down is over (then its dial is the probe)."""
    entry.next_attempt_at = choice.retry_at or timezone.now() + DEFER_WITHOUT_OPENING
    entry.note = f"Waiting: {arm.name}'s vendor is not answering (circuit open)."[:300]
    entry.save(update_fields=["next_attempt_at", "note", "updated_at"])


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
        # Retry rules speak the common outcomes; a failed call without one failed at callops.
        common = call.common_outcome or (
            CommonOutcome.FAILED_VENDOR if call.state == CallState.FAILED else ""
        )
        # A native campaign's vendor retries on its own: its entries only record the outcome.
        native = entry.campaign.kind == CampaignKind.NATIVE
        rule = None if native else retry_rule(entry.campaign, common)
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
