"""Vendor-side configuration of voice-platform accounts: flows, agents at the vendor, speaker
voices (create, samples, deploy, state) and the human-agent availability callops shows.

Every request here is made for a person waiting on a page: one attempt, and no long wait for
the rate budget. When the budget of an endpoint is spent the person is told when to try again
("try again at 14:05") instead of the page hanging. No database transaction is open during a
vendor request; what the vendor answered is written after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from vendors.crypto import SecretUnreadable
from vendors.errors import VendorConflict, VendorError, VendorNotFound, VendorRateLimited
from vendors.http import RetryPolicy
from vendors.models import (
    Speaker,
    SpeakerSample,
    SpeakerStatus,
    VendorAccount,
    VendorKind,
    VoiceFlow,
)
from vendors.ratelimit import configured_limits
from vendors.services import vendor_client_for
from vendors.voice_platform import schemas
from vendors.voice_platform.client import VoicePlatformClient
from vendors.voice_platform.samples import SNIFF_BYTES, CheckedSample, SampleRefused, check_sample

# One attempt; wait for the rate budget only across the short guard at a window's edge.
INTERACTIVE_NO_WAIT = RetryPolicy(max_attempts=1, max_wait=2.0)

# The rate-limit groups of the document's table, and what one request of each does.
CREATE_AGENT = "POST /api/voice/agents"
CREATE_FLOW = "POST /api/voice/flows"
CREATE_SPEAKER = "POST /api/voice/models/speakers"
UPLOAD_SAMPLE = "POST /api/voice/models/speakers/{name}/dataset/sample"
DEPLOY_SPEAKER = "POST /api/voice/models/speakers/{name}/deploy"
AGENT_AVAILABILITY = "GET /api/voice/calls/agent-availability"
WHAT_ONE_REQUEST_DOES = {
    CREATE_AGENT: "agent creations",
    CREATE_FLOW: "flow creations",
    CREATE_SPEAKER: "speaker creations",
    UPLOAD_SAMPLE: "sample uploads",
    DEPLOY_SPEAKER: "speaker deployments",
    AGENT_AVAILABILITY: "availability checks",
}

# At most this many files in one upload form: each is one request of a 30/min budget.
MAX_SAMPLES_PER_UPLOAD = 10


class VoiceConfigError(Exception):
    """A configuration step that did not happen; `message` is for the person who asked.

    `retry_at` is set when the rate budget is spent; `vendor_message` holds the vendor's own
    words when the vendor refused (shown as third-party text).
    """

    def __init__(
        self, message: str, *, retry_at: datetime | None = None, vendor_message: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at
        self.vendor_message = vendor_message


def _minute_up(moment: datetime) -> datetime:
    """The first whole minute at or after `moment`: "try again at 14:05" must hold at 14:05."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def try_again_message(account: VendorAccount, group: str, retry_at: datetime | None) -> str:
    """ "The voice platform takes at most 5 speaker creations a minute: try again at 14:05." """
    what = WHAT_ONE_REQUEST_DOES.get(group, "requests of this kind")
    limit = configured_limits(account).get(group)
    budget = (
        f"at most {limit.limit} {what} {_per(limit.window_seconds)}"
        if limit
        else f"only so many {what}"
    )
    spent = f"The voice platform takes {budget}, and that budget is spent"
    if retry_at is None:
        return f"{spent}: try again in a minute."
    return f"{spent}: try again at {timezone.localtime(_minute_up(retry_at)):%H:%M}."


def _per(window_seconds: float) -> str:
    named = {60.0: "a minute", 3600.0: "an hour", 86400.0: "a day"}
    return named.get(float(window_seconds), f"every {window_seconds:g} seconds")


def _refused(account: VendorAccount, group: str, error: VendorError) -> VoiceConfigError:
    if isinstance(error, VendorRateLimited):
        return VoiceConfigError(
            try_again_message(account, group, error.retry_at), retry_at=error.retry_at
        )
    if error.status is None:
        return VoiceConfigError(
            f"The voice platform did not answer ({error.message}). Nothing was changed there; "
            "try again.",
            vendor_message=error.message,
        )
    return VoiceConfigError(
        f"The voice platform refused it: {error.message}", vendor_message=error.message
    )


def _client(account: VendorAccount) -> VoicePlatformClient:
    if account.kind != VendorKind.VOICE_PLATFORM:
        raise VoiceConfigError(f"{account.name} is not a voice-platform account.")
    if not account.is_active:
        raise VoiceConfigError(f"{account.name} is disabled: enable it under Settings first.")
    try:
        client = vendor_client_for(account, retry=INTERACTIVE_NO_WAIT)
    except SecretUnreadable:
        raise VoiceConfigError(
            f"The stored key of {account.name} cannot be decrypted with the configured keys."
        ) from None
    assert isinstance(client, VoicePlatformClient)  # noqa: S101 - the kind was checked above
    return client


def active_voice_accounts() -> list[VendorAccount]:
    return list(VendorAccount.objects.filter(kind=VendorKind.VOICE_PLATFORM, is_active=True))


# ------------------------------------------------------------------------------ agents, flows


def agent_create_at_vendor(
    *,
    account: VendorAccount,
    name: str,
    flow_id: str | None = None,
    voice: str | None = None,
    language: str | None = None,
    config: dict[str, Any] | None = None,
    request_key: str | None = None,
) -> schemas.VoiceAgent:
    """POST /api/voice/agents. `request_key` (one per form) makes a double submit one agent."""
    try:
        with _client(account) as client:
            return client.create_agent(
                name=name,
                flow_id=flow_id,
                voice=voice,
                language=language,
                config=config,
                idempotency_key=request_key,
            )
    except VendorError as exc:
        raise _refused(account, CREATE_AGENT, exc) from None


def flow_create(
    *,
    account: VendorAccount,
    name: str,
    config: dict[str, Any],
    created_by: Any = None,
    request_key: str | None = None,
) -> VoiceFlow:
    """POST /api/voice/flows, then keep the vendor's answer so the flow can be picked at once."""
    try:
        with _client(account) as client:
            flow = client.create_flow(name=name, config=config, idempotency_key=request_key)
    except VendorError as exc:
        raise _refused(account, CREATE_FLOW, exc) from None
    record, _ = VoiceFlow.objects.update_or_create(
        vendor_account=account,
        vendor_flow_id=flow.id,
        defaults={
            "name": flow.name or name,
            "config": flow.config,
            "is_active": True,
            "synced_at": timezone.now(),
        },
        create_defaults={
            "name": flow.name or name,
            "config": flow.config,
            "is_active": True,
            "synced_at": timezone.now(),
            "created_by": created_by if getattr(created_by, "pk", None) else None,
        },
    )
    return record


def flows_sync(*, account: VendorAccount) -> int:
    """Copy the account's flows from the vendor; flows it no longer lists become inactive."""
    try:
        with _client(account) as client:
            listed = client.list_flows()
    except VendorError as exc:
        raise _refused(account, "default", exc) from None
    now = timezone.now()
    with transaction.atomic():
        for flow in listed:
            VoiceFlow.objects.update_or_create(
                vendor_account=account,
                vendor_flow_id=flow.id,
                defaults={
                    "name": flow.name or flow.id,
                    "config": flow.config,
                    "is_active": True,
                    "synced_at": now,
                },
            )
        VoiceFlow.objects.filter(vendor_account=account).exclude(
            vendor_flow_id__in=[flow.id for flow in listed]
        ).update(is_active=False, synced_at=now)
    return len(listed)


# ---------------------------------------------------------------------------- speaker voices


def _apply_speaker(speaker: Speaker, remote: schemas.Speaker, now: datetime) -> list[str]:
    """Copy what the vendor said onto the record; returns the fields that changed."""
    changed = []
    if remote.status and remote.status != speaker.status:
        speaker.status = remote.status
        changed.append("status")
        if remote.status == SpeakerStatus.DEPLOYED and speaker.deployed_at is None:
            speaker.deployed_at = now
            changed.append("deployed_at")
    if remote.samples is not None and remote.samples != speaker.samples:
        speaker.samples = remote.samples
        changed.append("samples")
    if remote.language and not speaker.language:
        speaker.language = remote.language
        changed.append("language")
    return changed


def speaker_create(
    *, account: VendorAccount, name: str, language: str = "", created_by: Any = None
) -> tuple[Speaker, bool]:
    """POST /api/voice/models/speakers. Returns (speaker, adopted).

    When the vendor already has a speaker of that name (made in its console, or by a request
    whose answer was lost) callops starts tracking that one instead: `adopted` is then True.
    """
    if Speaker.objects.filter(vendor_account=account, name=name).exists():
        raise VoiceConfigError(f"{account.name} already has a speaker named {name}.")
    adopted = False
    try:
        with _client(account) as client:
            try:
                remote = client.create_speaker(name=name, language=language or None)
            except VendorConflict:
                remote = client.get_speaker(name)
                adopted = True
    except VendorError as exc:
        raise _refused(account, CREATE_SPEAKER, exc) from None
    now = timezone.now()
    speaker = Speaker(
        vendor_account=account,
        name=remote.name or name,
        language=remote.language or language,
        status=remote.status or SpeakerStatus.CREATED,
        samples=remote.samples or 0,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        last_synced_at=now,
    )
    if speaker.status == SpeakerStatus.DEPLOYED:
        speaker.deployed_at = now
    speaker.save()
    return speaker, adopted


@dataclass(frozen=True)
class UploadedFile:
    """What the upload view hands over: a name, a size and a readable file."""

    name: str
    size: int
    file: IO[bytes]


def check_samples(files: Iterable[UploadedFile]) -> list[CheckedSample]:
    """Check every file before any is sent: one bad file means none goes (the form says which)."""
    files = list(files)
    if not files:
        raise VoiceConfigError("Choose at least one audio file.")
    if len(files) > MAX_SAMPLES_PER_UPLOAD:
        raise VoiceConfigError(
            f"At most {MAX_SAMPLES_PER_UPLOAD} files at a time "
            f"(the voice platform takes 30 samples a minute)."
        )
    problems, checked = [], []
    for upload in files:
        upload.file.seek(0)
        head = upload.file.read(SNIFF_BYTES)
        upload.file.seek(0)
        try:
            checked.append(check_sample(file_name=upload.name, size=upload.size, head=head))
        except SampleRefused as exc:
            problems.append(str(exc))
    if problems:
        raise VoiceConfigError(" ".join(problems) + " Nothing was uploaded.")
    return checked


@dataclass
class UploadReport:
    uploaded: list[str] = field(default_factory=list)
    # The files not sent, and why (the vendor's refusal, or the rate budget).
    not_uploaded: list[str] = field(default_factory=list)
    error: VoiceConfigError | None = None


def speaker_upload_samples(
    *, speaker: Speaker, files: list[UploadedFile], uploaded_by: Any = None
) -> UploadReport:
    """Send each checked file to the speaker's dataset (30/min), one request per file.

    Stops at the first failure: the files after it are reported as not uploaded, so the
    person can choose them again (after the time the message gives, when it is the budget).
    """
    checked = check_samples(files)
    account = speaker.vendor_account
    report = UploadReport()
    user = uploaded_by if getattr(uploaded_by, "pk", None) else None
    with _client(account) as client:
        for upload, sample in zip(files, checked, strict=True):
            if report.error is not None:
                report.not_uploaded.append(sample.file_name)
                continue
            upload.file.seek(0)
            try:
                remote = client.upload_speaker_sample(
                    speaker.name,
                    filename=sample.file_name,
                    content=upload.file.read(),
                    content_type=sample.content_type,
                )
            except VendorError as exc:
                report.error = _refused(account, UPLOAD_SAMPLE, exc)
                report.not_uploaded.append(sample.file_name)
                continue
            SpeakerSample.objects.create(
                speaker=speaker,
                file_name=sample.file_name[:255],
                size_bytes=sample.size,
                content_type=sample.content_type,
                uploaded_by=user,
            )
            if remote.samples is not None:
                Speaker.objects.filter(pk=speaker.pk).update(samples=remote.samples)
            report.uploaded.append(sample.file_name)
    speaker.refresh_from_db()
    return report


def speaker_deploy(*, speaker: Speaker) -> Speaker:
    """POST .../{name}/deploy: the vendor trains the voice ("deploying"), then "deployed"."""
    account = speaker.vendor_account
    try:
        with _client(account) as client:
            remote = client.deploy_speaker(speaker.name)
    except VendorError as exc:
        raise _refused(account, DEPLOY_SPEAKER, exc) from None
    now = timezone.now()
    with transaction.atomic():
        locked = Speaker.objects.select_for_update().get(pk=speaker.pk)
        locked.status = remote.status or SpeakerStatus.DEPLOYING
        locked.deploy_requested_at = now
        locked.deployed_at = now if locked.status == SpeakerStatus.DEPLOYED else None
        locked.last_synced_at = now
        locked.last_error = ""
        if remote.samples is not None:
            locked.samples = remote.samples
        locked.save()
    return locked


# A page asks the vendor about a speaker at most this often, however many people watch it.
SPEAKER_REFRESH_SECONDS = 2.0


def speaker_refresh(*, speaker: Speaker, min_interval: float = SPEAKER_REFRESH_SECONDS) -> Speaker:
    """Read the speaker's state from the vendor (GET, default budget) and keep it.

    The refresh is claimed with a conditional UPDATE, so of many viewers polling at once only
    one asks the vendor per interval; the others read what it stored. A vendor error is kept
    on the record (shown beside the last known state), never raised.
    """
    now = timezone.now()
    claimed = (
        Speaker.objects.filter(pk=speaker.pk)
        .filter(
            Q(last_synced_at__isnull=True)
            | Q(last_synced_at__lte=now - timedelta(seconds=min_interval))
        )
        .update(last_synced_at=now)
    )
    if not claimed:
        speaker.refresh_from_db()
        return speaker
    try:
        with _client(speaker.vendor_account) as client:
            remote = client.get_speaker(speaker.name)
    except VendorNotFound:
        Speaker.objects.filter(pk=speaker.pk).update(
            last_error="The voice platform no longer has this speaker."
        )
    except (VendorError, VoiceConfigError) as exc:
        Speaker.objects.filter(pk=speaker.pk).update(
            last_error=f"Could not refresh: {exc.message}"[:500]
        )
    else:
        with transaction.atomic():
            locked = Speaker.objects.select_for_update().get(pk=speaker.pk)
            changed = _apply_speaker(locked, remote, timezone.now())
            locked.last_error = ""
            locked.save(update_fields=[*changed, "last_error"])
    speaker.refresh_from_db()
    return speaker


# ------------------------------------------------------------------ human-agent availability

# How long one answer serves every browser; the vendor allows 30 checks a minute per key.
AVAILABILITY_FRESH_SECONDS = 15
# A stale answer is still shown while one request refreshes it.
AVAILABILITY_KEEP_SECONDS = 120
AVAILABILITY_LOCK_SECONDS = 10


@dataclass(frozen=True)
class Availability:
    account_name: str
    # None: unknown (the vendor failed, or no answer yet).
    available_agents: int | None
    checked_at: datetime | None

    @property
    def known(self) -> bool:
        return self.available_agents is not None


def _availability_key(account_id: int, queue: str) -> str:
    return f"callops:voice-availability:{account_id}:{queue}"


def human_availability(
    *, account: VendorAccount, queue: str = "default", now: datetime | None = None
) -> Availability:
    """How many humans are free in `queue`, from the cache when it is fresh.

    One answer (or one failure) is kept ~15 s for everyone; when it is stale, one request
    (the one that takes a short cache lock) asks the vendor while the others keep showing the
    stale answer. Any vendor error, including a spent rate budget, reads as "unknown".
    """
    now = now or timezone.now()
    key = _availability_key(account.pk, queue)
    cached = cache.get(key)
    if cached is not None and now.timestamp() - cached["at"] < AVAILABILITY_FRESH_SECONDS:
        return _from_cache(account, cached)
    if not cache.add(f"{key}:lock", 1, AVAILABILITY_LOCK_SECONDS):
        return _from_cache(account, cached)
    try:
        try:
            with _client(account) as client:
                answer = client.agent_availability(queue)
            count: int | None = max(0, answer.available_agents)
        except (VendorError, VoiceConfigError):
            count = None
        # A failure is cached too (as unknown), so a failing vendor is not asked by every poll.
        stored = {"at": now.timestamp(), "available_agents": count}
        cache.set(key, stored, AVAILABILITY_KEEP_SECONDS)
    finally:
        cache.delete(f"{key}:lock")
    return _from_cache(account, stored)


def _from_cache(account: VendorAccount, cached: dict[str, Any] | None) -> Availability:
    if cached is None:
        return Availability(account_name=account.name, available_agents=None, checked_at=None)
    at = cached.get("at")
    checked_at = (
        datetime.fromtimestamp(at, tz=timezone.get_current_timezone())
        if isinstance(at, int | float) and math.isfinite(at)
        else None
    )
    return Availability(
        account_name=account.name,
        available_agents=cached.get("available_agents"),
        checked_at=checked_at,
    )
