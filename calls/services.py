"""Writes for calls: request a call, dispatch it to its vendor, apply what vendors say.

The order of work follows DESIGN.md: a call is written `pending` with a fresh idempotency key
and committed; a task claims it and asks the vendor outside any transaction; whatever the
vendor says later (API answer, webhook, poll) goes through `call_apply_update`, which only
ever moves a call forward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction
from calls import enqueue, governor
from calls.models import (
    LIVE_STATES,
    Agent,
    Call,
    CallEvent,
    CallOutcome,
    CallState,
    EventSource,
)
from calls.outcomes import common_outcome_of, outcome_of_failure
from calls.post_call import enqueue_plan as enqueue_post_call_plan
from calls.sending import claim_for_dispatch, dispatch_lease
from calls.state import (
    TERMINAL,
    UnknownVendorState,
    moves_forward,
    outcome_from_vendor,
    state_from_vendor,
)
from calls.vendor_calls import CallUpdate, fetch_vendor_call, start_vendor_call
from calls.webhooks import unmatched_webhooks_for, webhook_replay
from contacts import compliance
from contacts.models import Contact
from contacts.phones import PhoneError, normalize_phone
from contacts.selectors import is_on_do_not_call
from vendors.errors import VendorError, VendorNotFound, VendorRateLimited, VendorUnavailable
from vendors.http import RetryPolicy
from vendors.models import VendorAccount, VendorKind
from vendors.services import INTERACTIVE_RETRY_POLICY, vendor_client_for

logger = logging.getLogger(__name__)

MAX_DISPATCH_ATTEMPTS = 3
# campaigns.models.CampaignStatus.STOPPED, named here because calls does not import campaigns.
STOPPED_CAMPAIGN_STATUS = "stopped"
# A call with no end after this long is marked stale and no longer polled.
STALE_AFTER = timedelta(hours=3)


class CallRejected(ValueError):
    """A call that cannot be placed; `field` names the input at fault, if any."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConcurrencyLimitReached(CallRejected):
    """Live calls are at the account's or the total limit (calls/governor.py): a single call is
    refused, a paced campaign waits for a free slot."""


class CallNotAllowedNow(CallRejected):
    """The calling policy refuses the call now (hours or a frequency cap); `retry_at` is the
    next moment it would allow it (None: none within two weeks)."""

    def __init__(self, refusal: compliance.NotAllowedNow) -> None:
        super().__init__(f"{refusal.rule}.")
        self.retry_at = refusal.retry_at
        self.outside_hours = isinstance(refusal, compliance.OutsideHours)


@dataclass(frozen=True)
class RetryLater(Exception):
    """The vendor could not take the request now; the task retries after `seconds`."""

    seconds: float
    reason: str


def _event(
    call: Call,
    message: str,
    *,
    source: str,
    state_from: str = "",
    state_to: str = "",
    data: dict[str, Any] | None = None,
) -> CallEvent:
    return CallEvent.objects.create(
        call=call,
        source=source,
        message=message[:500],
        state_from=state_from,
        state_to=state_to,
        data=data or {},
    )


def _validate_json_object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise CallRejected(f"{field} must be an object with text keys.", field=field)
    return value


def call_number_for(*, to_number: str = "", contact: Contact | None = None) -> str:
    """The E.164 number to dial, refusing numbers that do not parse or are on do-not-call."""
    if contact is not None:
        number = contact.phone_e164
    else:
        try:
            number = normalize_phone(to_number).e164
        except PhoneError as exc:
            raise CallRejected(
                f"{to_number or 'The number'} cannot be called: {exc.reason}.", field="to_number"
            ) from None
    if is_on_do_not_call(number):
        raise CallRejected(f"{number} is on the do-not-call list.", field="to_number")
    return number


def call_create(
    *,
    vendor_account: VendorAccount,
    agent: Agent,
    to_number: str = "",
    contact: Contact | None = None,
    variables: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    created_by: Any = None,
    campaign_id: int | None = None,
    request_key: str = "",
    source: str = EventSource.USER,
    request: Any = None,
) -> tuple[Call, bool]:
    """Write a pending call and dispatch it after commit. Returns (call, created).

    With a `request_key` (an API client's Idempotency-Key) the same user gets the same call
    back instead of a second one.
    """
    if created_by is not None and request_key:
        existing = Call.objects.filter(created_by=created_by, request_key=request_key).first()
        if existing is not None:
            return existing, False
    if not vendor_account.is_active:
        raise CallRejected(f"{vendor_account} is disabled.", field="vendor_account")
    if not vendor_account.is_calling:
        raise CallRejected(
            f"{vendor_account.get_kind_display()} does not place calls.", field="vendor_account"
        )
    if agent.vendor_account_id != vendor_account.pk:
        raise CallRejected(f"{agent} is not an agent of {vendor_account}.", field="agent")
    if not agent.is_active:
        raise CallRejected(f"{agent} is not active.", field="agent")
    number = call_number_for(to_number=to_number, contact=contact)
    variables = _validate_json_object(variables, "variables")
    metadata = _validate_json_object(metadata, "metadata")
    if contact is None:
        contact = Contact.objects.filter(phone_e164=number).first()
    now = timezone.now()
    try:
        compliance.check_hours(number, time_zone=contact.time_zone if contact else "", at=now)
    except compliance.NotAllowedNow as refusal:
        raise CallNotAllowedNow(refusal) from None

    try:
        with transaction.atomic():
            # The pending call is the slot: counted and written under the governor's lock.
            refusal = governor.refusal_for_new_call(vendor_account)
            if refusal is not None:
                raise ConcurrencyLimitReached(refusal)
            # The attempt is reserved in the transaction writing the call (a lock per number):
            # two workers or campaigns racing for one number cannot both pass a cap.
            try:
                attempt = compliance.attempt_reserve(
                    phone_e164=number,
                    source=f"campaign {campaign_id}" if campaign_id else "single call",
                    at=now,
                )
            except compliance.NotAllowedNow as refusal:
                raise CallNotAllowedNow(refusal) from None
            call = Call.objects.create(
                vendor_account=vendor_account,
                agent=agent,
                contact=contact,
                campaign_id=campaign_id,
                created_by=created_by,
                to_number=number,
                variables=variables,
                metadata=metadata,
                request_key=request_key,
                next_sync_at=None,
            )
            compliance.attempt_link(attempt, call.pk)
            who = getattr(created_by, "username", "") or "callops"
            _event(call, f"Call requested by {who}.", source=source, state_to=CallState.PENDING)
            if created_by is not None:
                audit_record(
                    action=AuditAction.CALL_TRIGGERED,
                    request=request,
                    actor=created_by,
                    target=f"call {call.pk} to {number}",
                )
            transaction.on_commit(lambda: _enqueue_dispatch(call.pk))
    except IntegrityError:
        # Two requests with the same Idempotency-Key raced; the other one won.
        existing = Call.objects.filter(created_by=created_by, request_key=request_key).first()
        if existing is None:
            raise
        return existing, False
    return call, True


def _enqueue_dispatch(call_id: int) -> None:
    enqueue.dispatch_call(call_id)


# One request and no backoff in the caller's process: for a caller that must not sleep while
# a vendor fails (the dispatcher starting calls on their slots); the call's task retries later.
SINGLE_TRY_POLICY = RetryPolicy(max_attempts=1)


def call_dispatch(*, call_id: int, single_try: bool = False) -> None:
    """Ask the vendor to place a pending call. Raises RetryLater for transient failures.

    `single_try`: one request (SINGLE_TRY_POLICY) instead of the HTTP core's retries."""
    # Claimed under the campaign row's lock, in order with a stop (calls/sending.py).
    campaign_status = claim_for_dispatch(call_id)
    if campaign_status is None:
        return
    call = Call.objects.select_related("vendor_account", "agent", "campaign", "contact").get(
        pk=call_id
    )
    if call.dispatch_attempts > MAX_DISPATCH_ATTEMPTS:
        _fail(
            call,
            f"Gave up after {MAX_DISPATCH_ATTEMPTS} attempts to reach "
            f"{call.vendor_account.get_kind_display()}.",
        )
        return
    # A campaign stopped after this call was written: no call of it starts after the stop.
    if campaign_status == STOPPED_CAMPAIGN_STATUS:
        _fail(call, "The campaign was stopped before this call was dialled.")
        return
    # The list may have changed since the call was requested.
    if is_on_do_not_call(call.to_number):
        _fail(call, f"{call.to_number} was added to the do-not-call list before dialling.")
        return
    # Hours again, not only when the call was written: a call held up (vendor outage, rate
    # limit) must not ring after them. Not dialled rather than postponed: whoever asked decides.
    try:
        zone = call.contact.time_zone if call.contact else ""
        compliance.check_hours(call.to_number, time_zone=zone)
    except compliance.NotAllowedNow as refusal:
        _fail(call, f"Not dialled: {refusal.rule}.")
        return
    # A campaign's call gets one request per attempt: its task's countdown retries it. The HTTP
    # core's retries slept seconds in the worker per call while a vendor failed (503s, dropped
    # connections), holding the processes that start the campaign's next calls on their slots.
    one_request = single_try or call.campaign_id is not None
    try:
        update = start_vendor_call(call, retry=SINGLE_TRY_POLICY if one_request else None)
    except VendorRateLimited as exc:
        wait = _seconds_until(exc.retry_at) if exc.retry_at else 10.0
        # A wait for the rate budget does not use up an attempt, unless an earlier try of this
        # request may have reached the vendor: then the attempt stays counted, as not unsent.
        _release_dispatch(call, attempts_back=0 if exc.maybe_delivered else 1)
        _event(
            call,
            f"Queued at callops: the vendor's rate limit is reached, next try in {wait:.0f} s.",
            source=EventSource.SYSTEM,
        )
        raise RetryLater(wait, "rate limited") from None
    except VendorError as exc:
        if exc.permanent:
            _fail(call, exc.message or str(exc), data=_error_data(exc))
            return
        _release_dispatch(call, unsent=not exc.maybe_delivered)
        _event(
            call,
            f"{call.vendor_account.get_kind_display()} is unavailable ({exc.message}); "
            "callops will try again.",
            source=EventSource.SYSTEM,
            data=_error_data(exc),
        )
        raise RetryLater(15.0 * call.dispatch_attempts, exc.message) from None
    call_apply_update(call_id=call.pk, update=update, source=EventSource.API)


def _seconds_until(moment: datetime) -> float:
    return max(1.0, (moment - timezone.now()).total_seconds())


def _error_data(exc: VendorError) -> dict[str, Any]:
    return {"status": exc.status, "code": exc.code, "request_id": exc.request_id}


def _release_dispatch(call: Call, *, attempts_back: int = 0, unsent: bool = False) -> None:
    """Let the retry claim the call again (a rate-limit wait does not use up an attempt);
    `unsent`: this attempt surely never reached the vendor (calls/reroute.py may move it)."""
    Call.objects.filter(pk=call.pk, state=CallState.PENDING).update(
        next_sync_at=None,
        dispatch_attempts=F("dispatch_attempts") - attempts_back,
        unsent_attempts=F("unsent_attempts") + (1 if unsent else 0),
    )


def _fail(call: Call, reason: str, *, data: dict[str, Any] | None = None) -> None:
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.state in TERMINAL:
            return
        previous = locked.state
        locked.state = CallState.FAILED
        locked.outcome = CallOutcome.ERROR
        locked.error_message = reason[:500]
        locked.common_outcome = outcome_of_failure(locked.error_message)
        locked.next_sync_at = None
        locked.last_update_at = timezone.now()
        locked.save(
            update_fields=[
                "state",
                "outcome",
                "common_outcome",
                "error_message",
                "next_sync_at",
                "last_update_at",
            ]
        )
        _event(
            locked,
            f"Failed: {reason}",
            source=EventSource.SYSTEM,
            state_from=previous,
            state_to=CallState.FAILED,
            data=data,
        )


def sync_interval(age: timedelta) -> timedelta:
    """Poll young calls often and old ones rarely: news comes mostly by webhook anyway."""
    if age < timedelta(minutes=2):
        return timedelta(seconds=10)
    if age < timedelta(minutes=15):
        return timedelta(seconds=30)
    if age < timedelta(hours=1):
        return timedelta(minutes=2)
    return timedelta(minutes=10)


def call_adopt(
    *,
    vendor_account: VendorAccount,
    update: CallUpdate,
    to_number: str,
    agent: Agent | None = None,
    contact: Contact | None = None,
    campaign_id: int | None = None,
) -> Call | None:
    """Store a call the vendor placed on its own (a native campaign's), once; None when it is
    already known. From then on it is kept in sync like any other call, and the webhooks that
    came before it was known are applied to it."""
    if not update.vendor_call_id:
        return None
    try:
        with transaction.atomic():
            call, created = Call.objects.get_or_create(
                vendor_account=vendor_account,
                vendor_call_id=update.vendor_call_id,
                defaults={
                    "to_number": to_number[:16],
                    "agent": agent,
                    "contact": contact,
                    "campaign_id": campaign_id,
                    "state": CallState.QUEUED,
                    "vendor_status": update.status[:32],
                },
            )
            if created:
                _event(
                    call,
                    f"Placed by the vendor's campaign as {update.vendor_call_id}.",
                    source=EventSource.SYNC,
                    state_to=CallState.QUEUED,
                )
    except IntegrityError:
        return None  # another worker adopted it at the same moment
    if not created:
        return None
    call = call_apply_update(call_id=call.pk, update=update, source=EventSource.SYNC)
    for inbox_id in unmatched_webhooks_for(
        account_id=vendor_account.pk, vendor_call_id=update.vendor_call_id
    ):
        webhook_replay(inbox_id=inbox_id)
    return call


def call_apply_update(*, call_id: int, update: CallUpdate, source: str) -> Call:
    """Apply what a vendor says about a call, moving it forward only.

    An update for an earlier state than the call's fills in only what the call lacks; an
    update for the same or a later state refreshes the data it carries.
    """
    with transaction.atomic():
        call = Call.objects.select_for_update().select_related("vendor_account").get(pk=call_id)
        kind = call.vendor_account.kind
        now = timezone.now()
        try:
            proposed = state_from_vendor(kind, update.status)
        except UnknownVendorState as exc:
            _event(call, f"Ignored an update: {exc}.", source=source, data=update.payload)
            return call
        behind = not moves_forward(call.state, proposed) and proposed != call.state
        learned_vendor_id = not call.vendor_call_id and bool(update.vendor_call_id)
        transcript_before = call.transcript
        changed = _merge_data(call, update, only_fill=behind or call.state in TERMINAL)
        previous = call.state
        if moves_forward(call.state, proposed):
            call.state = proposed
            if proposed == CallState.ENDED:
                call.outcome = outcome_from_vendor(kind, update.reason) or CallOutcome.COMPLETED
            changed = True
        if not behind:
            call.vendor_status = update.status
        # Late data (a transcript, extracted variables) may refine an ended call's outcome.
        call.common_outcome = common_outcome_of(call, vendor=kind)
        call.last_update_at = now
        call.sync_failures = 0
        call.next_sync_at = (
            None if call.state in TERMINAL else now + sync_interval(now - call.created_at)
        )
        call.save()
        if previous != call.state:
            _event(
                call,
                _state_message(call, update),
                source=source,
                state_from=previous,
                state_to=call.state,
                data={"vendor_status": update.status, "reason": update.reason},
            )
        elif changed and source != EventSource.SYNC:
            _event(call, "Call details updated.", source=source)
        if previous != call.state and call.state == CallState.ENDED:
            # After the commit: the post-call rules see the call as ended, with its data.
            transaction.on_commit(partial(enqueue_post_call_plan, call.pk))
        if call.state == CallState.ENDED and (
            previous != call.state or call.transcript is not transcript_before
        ):
            # The transcript is final (or came after the end): measure the conversation.
            transaction.on_commit(partial(enqueue.measure_conversation, call.pk))
        if learned_vendor_id:
            # Webhooks that arrived before we knew the vendor's id can now find their call.
            for inbox_id in unmatched_webhooks_for(
                account_id=call.vendor_account_id, vendor_call_id=call.vendor_call_id
            ):
                webhook_replay(inbox_id=inbox_id)
    if previous != call.state and call.state == CallState.ENDED:
        logger.info("call %s ended (%s)", call.pk, call.vendor_outcome or call.outcome)
    return call


def _state_message(call: Call, update: CallUpdate) -> str:
    if call.state == CallState.QUEUED:
        return f"Accepted by the vendor as {update.vendor_call_id}."
    if call.state == CallState.RUNNING:
        return "The call is running."
    if call.state == CallState.ENDED:
        reason = f" ({update.reason})" if update.reason else ""
        return f"The call ended: {call.get_outcome_display()}{reason}."
    return f"Now {call.get_state_display().lower()}."


def _merge_data(call: Call, update: CallUpdate, *, only_fill: bool) -> bool:
    """Copy the update's data onto the call; with only_fill, only into empty fields."""
    values: dict[str, Any] = {
        "vendor_call_id": update.vendor_call_id,
        "vendor_outcome": update.reason or "",
        "from_number": update.from_number,
        "started_at": update.started_at,
        "ended_at": update.ended_at,
        "duration_seconds": (
            round(update.duration_seconds) if update.duration_seconds is not None else None
        ),
        "summary": update.summary,
        "transcript": update.transcript,
        "extracted_variables": update.extracted_variables,
        "recording_url": update.recording_url,
    }
    changed = False
    for name, value in values.items():
        if value in (None, "", [], {}):
            continue
        current = getattr(call, name)
        if only_fill and current not in (None, "", [], {}):
            continue
        if current != value:
            setattr(call, name, value)
            changed = True
    if update.payload and not only_fill:
        call.last_payload = update.payload
    return changed


# ---------------------------------------------------------------------------------- sync


def calls_due_for_sync(*, limit: int = 200) -> list[int]:
    """Claim up to `limit` calls whose next poll is due; each id is claimed by one caller only."""
    now = timezone.now()
    due = list(
        Call.objects.filter(
            state__in=[CallState.QUEUED, CallState.RUNNING],
            is_stale=False,
            next_sync_at__lte=now,
        )
        .exclude(vendor_call_id="")
        .order_by("next_sync_at")
        .values_list("pk", "next_sync_at")[:limit]
    )
    claimed = []
    for pk, due_at in due:
        # Conditional UPDATE: a second sync job running at the same moment loses this row.
        if Call.objects.filter(pk=pk, next_sync_at=due_at).update(
            next_sync_at=now + dispatch_lease()
        ):
            claimed.append(pk)
    return claimed


def call_sync(*, call_id: int) -> None:
    """Poll the vendor for one call; mark it stale when it has been silent for too long."""
    call = Call.objects.select_related("vendor_account").get(pk=call_id)
    if call.state in TERMINAL or not call.vendor_call_id:
        return
    if timezone.now() - call.created_at > STALE_AFTER:
        _mark_stale(call)
        return
    try:
        # One request: the poll's own schedule retries it (_note_sync_failure backs off). The
        # HTTP core's retries slept seconds in the worker per poll while a vendor dropped
        # connections, holding the processes that start campaigns' calls on their slots (the
        # failover benchmark's calls came up to 4.8 s late, 10 calls behind the schedule).
        update = fetch_vendor_call(
            call.vendor_account, call.vendor_call_id, retry=SINGLE_TRY_POLICY
        )
    except VendorError as exc:
        _note_sync_failure(call, exc)
        return
    call_apply_update(call_id=call.pk, update=update, source=EventSource.SYNC)


def _note_sync_failure(call: Call, exc: VendorError) -> None:
    now = timezone.now()
    backoff = sync_interval(now - call.created_at) * (2 ** min(call.sync_failures, 5))
    Call.objects.filter(pk=call.pk).update(
        sync_failures=F("sync_failures") + 1, next_sync_at=now + backoff
    )
    if call.sync_failures == 0 or isinstance(exc, VendorNotFound):
        _event(
            call,
            f"Could not read the call from the vendor: {exc.message}",
            source=EventSource.SYNC,
            data=_error_data(exc),
        )


def _mark_stale(call: Call) -> None:
    hours = STALE_AFTER.total_seconds() / 3600
    updated = Call.objects.filter(pk=call.pk, state__in=LIVE_STATES, is_stale=False).update(
        is_stale=True, next_sync_at=None
    )
    if updated:
        _event(
            call,
            f"No end reported {hours:.0f} h after the call was requested: marked stale.",
            source=EventSource.SYNC,
        )


def pending_calls_to_redispatch() -> list[int]:
    """Pending calls whose dispatch never happened or whose worker died (lease expired)."""
    now = timezone.now()
    older_than = dispatch_lease()
    return list(
        Call.objects.filter(
            Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now),
            state=CallState.PENDING,
            vendor_call_id="",
            created_at__lte=now - older_than,
        ).values_list("pk", flat=True)[:500]
    )


# -------------------------------------------------------------------------------- agents


def agents_sync(*, account: VendorAccount) -> int:
    """Copy the account's agents from its vendor; agents it no longer lists become inactive."""
    with vendor_client_for(account) as client:
        listed = client.list_agents()
    now = timezone.now()
    seen = []
    with transaction.atomic():
        for vendor_agent in listed:
            defaults: dict[str, Any] = {
                "name": vendor_agent.name or vendor_agent.id,
                "is_active": True,
                "synced_at": now,
            }
            if account.kind == VendorKind.REVRAG:
                defaults["variables"] = [
                    {"name": v.name, "type": v.type, "default_value": v.default_value}
                    for v in vendor_agent.variables
                ]
            else:
                defaults["language"] = vendor_agent.language or ""
                defaults["voice"] = vendor_agent.voice or ""
            Agent.objects.update_or_create(
                vendor_account=account, vendor_agent_id=vendor_agent.id, defaults=defaults
            )
            seen.append(vendor_agent.id)
        Agent.objects.filter(vendor_account=account).exclude(vendor_agent_id__in=seen).update(
            is_active=False, synced_at=now
        )
    return len(seen)


# ------------------------------------------------------------------------ live-call actions


class LiveActionFailed(ValueError):
    """A live-call action the vendor refused; `message` is for the person who asked.
    `no_agents` is set when a transfer found nobody free (offer the handoff instead)."""

    def __init__(self, message: str, *, no_agents: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.no_agents = no_agents


def _live_voice_call(call: Call) -> None:
    if call.vendor_account.kind != VendorKind.VOICE_PLATFORM:
        raise LiveActionFailed("Only voice-platform calls can be ended or transferred from here.")
    if call.state != CallState.RUNNING or not call.vendor_call_id:
        raise LiveActionFailed("The call is not running.")


def _user_label(user: Any) -> str:
    return getattr(user, "username", "") or "callops"


def call_end(*, call: Call, user: Any) -> None:
    """Hang up a running voice-platform call (POST /api/voice/calls/{id}/end)."""
    _live_voice_call(call)
    try:
        with vendor_client_for(call.vendor_account, retry=INTERACTIVE_RETRY_POLICY) as client:
            client.end_call(call.vendor_call_id)
    except VendorError as exc:
        # 409 "Call is not currently active": the vendor's words are the clearest message.
        raise LiveActionFailed(exc.message or str(exc)) from None
    _event(call, f"{_user_label(user)} ended the call.", source=EventSource.USER)


def call_transfer(*, call: Call, user: Any, queue: str = "default") -> str:
    """Bridge a running voice-platform call to a human queue, if someone is free there."""
    _live_voice_call(call)
    try:
        with vendor_client_for(call.vendor_account, retry=INTERACTIVE_RETRY_POLICY) as client:
            availability = client.agent_availability(queue)
            if not availability.available:
                raise LiveActionFailed(
                    f"No agent is free in the {queue} queue right now.", no_agents=True
                )
            client.transfer_call(call.vendor_call_id, queue=queue, reason="requested in callops")
    except VendorUnavailable as exc:
        # 503 "No agents available in target queue": someone took the last free agent.
        raise LiveActionFailed(exc.message, no_agents=True) from None
    except VendorError as exc:
        raise LiveActionFailed(exc.message or str(exc)) from None
    message = f"{_user_label(user)} transferred the call to the {queue} queue."
    _event(call, message, source=EventSource.USER)
    return message


def call_request_handoff(*, call: Call, user: Any, note: str = "") -> None:
    """The fallback when nobody can take a transfer: a human calls the contact back later.

    Recorded on the call (metadata `handoff` and the timeline), so the call log can list the
    calls waiting for a callback.
    """
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        locked.metadata = {
            **locked.metadata,
            "handoff": {
                "requested_at": timezone.now().isoformat(),
                "requested_by": _user_label(user),
                "note": note[:500],
            },
        }
        # A call that ended meanwhile now reads "Callback requested".
        locked.common_outcome = common_outcome_of(locked)
        locked.save(update_fields=["metadata", "common_outcome"])
        _event(
            locked,
            f"{_user_label(user)} asked for a human to call back"
            + (f": {note[:200]}" if note else "."),
            source=EventSource.USER,
        )


def agent_opt_out_variable_set(*, agent: Agent, name: str) -> None:
    Agent.objects.filter(pk=agent.pk).update(opt_out_variable=name)
