"""Native campaigns: the voice platform runs them; callops pushes the audience in batches, reads
the progress and stores each call the vendor placed. The vendor is asked only outside any
transaction.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from calls.models import Call
from calls.services import call_adopt
from calls.vendor_calls import update_from_voice_platform
from campaigns import compliance as campaign_compliance
from campaigns.models import (
    DUE_DIAL_STATES,
    Campaign,
    CampaignKind,
    CampaignStatus,
    DialEntry,
    DialState,
)
from contacts import compliance
from vendors.errors import VendorError
from vendors.services import vendor_client_for
from vendors.voice_platform.schemas import Call as VoiceCall

logger = logging.getLogger(__name__)

BATCH_SIZE = 500  # the voice platform's bulk contacts limit


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
                DialState.SKIPPED_CONSENT,
            )
        )
        # Held back by the calling policy: pushed later by native_push_held.
        .exclude(state=DialState.PENDING, next_attempt_at__isnull=False)
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
    if campaign.pushed_batches == 0:
        _hold_outside_policy(campaign, _native_audience(campaign).filter(state=DialState.PENDING))
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


# How long an entry waits when the policy knows no allowed moment within two weeks.
DEFER_WITHOUT_OPENING = timedelta(days=1)


def _hold_outside_policy(campaign: Campaign, entries: QuerySet[DialEntry]) -> list[DialEntry]:
    """The entries the calling policy allows now, each with its attempt reserved (the vendor
    dials them once pushed, at its own pace); the others wait, the rule as their note, for
    native_push_held to push them once allowed."""
    now = timezone.now()
    rules = compliance.hours_rules()
    entries_now = list(entries)
    # Consent may have expired or been deleted since launch: those are never pushed.
    unconsented = campaign_compliance.without_consent(
        campaign, {entry.pk: entry.contact_id for entry in entries_now}, now
    )
    if unconsented:
        DialEntry.objects.filter(pk__in=unconsented).update(
            state=DialState.SKIPPED_CONSENT,
            note=campaign_compliance.consent_note(campaign),
            next_attempt_at=None,
            updated_at=now,
        )
    allowed = []
    for entry in entries_now:
        if entry.pk in unconsented:
            continue
        try:
            compliance.check_hours(entry.phone_e164, time_zone=entry.time_zone, at=now, rules=rules)
            with transaction.atomic():
                compliance.attempt_reserve(
                    phone_e164=entry.phone_e164, source=f"campaign {campaign.pk}", at=now
                )
        except compliance.NotAllowedNow as refusal:
            DialEntry.objects.filter(pk=entry.pk).update(
                next_attempt_at=refusal.retry_at or now + DEFER_WITHOUT_OPENING,
                note=f"Waiting: {refusal.rule}."[:300],
                updated_at=now,
            )
            continue
        allowed.append(entry)
    return allowed


def _claim_held(campaign: Campaign, now: datetime) -> list[DialEntry]:
    """Held entries whose time has come, claimed for a few minutes (two syncs at once do not
    push the same ones)."""
    with transaction.atomic():
        held = list(
            DialEntry.objects.filter(
                campaign=campaign, state=DialState.PENDING, next_attempt_at__lte=now
            )
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[:BATCH_SIZE]
        )
        DialEntry.objects.filter(pk__in=[entry.pk for entry in held]).update(
            next_attempt_at=now + HELD_CLAIM
        )
    return held


HELD_CLAIM = timedelta(minutes=5)


def native_push_held(*, campaign_id: int) -> int:
    """Push to the running vendor campaign the entries the calling policy held back whose
    allowed time has come; how many were pushed. The vendor dials contacts added to a running
    campaign."""
    campaign = _native_running(campaign_id)
    if campaign is None or not campaign.vendor_campaign_id:
        return 0
    now = timezone.now()
    claimed = _claim_held(campaign, now)
    if not claimed:
        return 0
    ids = DialEntry.objects.filter(pk__in=[entry.pk for entry in claimed])
    allowed = _hold_outside_policy(campaign, ids.select_related("contact").order_by("id"))
    if not allowed:
        return 0
    digest = hashlib.sha256(",".join(str(entry.pk) for entry in allowed).encode()).hexdigest()
    vendor_client_for(campaign.vendor_account).upsert_contacts(
        _native_contacts(allowed),
        campaign_id=campaign.vendor_campaign_id,
        idempotency_key=f"callops-campaign-{campaign.pk}-held-{digest[:32]}",
    )
    DialEntry.objects.filter(pk__in=[entry.pk for entry in allowed]).update(
        state=DialState.DIALLING, next_attempt_at=None, note="", updated_at=timezone.now()
    )
    return len(allowed)


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
    try:
        native_push_held(campaign_id=campaign.pk)
    except VendorError as exc:
        _note_sync_failure(campaign.pk, exc)
        return
    waiting = DialEntry.objects.filter(campaign=campaign, state__in=DUE_DIAL_STATES)
    if remote.status.lower() in ("completed", "finished", "done") and not waiting.exists():
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
