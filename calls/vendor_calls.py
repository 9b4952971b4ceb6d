"""The calling vendors seen from the calls app: start a call, read a call, read a webhook.

Each vendor's own objects become one `CallUpdate`, so the services apply news the same way
whatever its vendor and whichever path (API answer, webhook, sync) brought it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calls.models import Call
from vendors.http import RetryPolicy
from vendors.inbound import parse_delivery
from vendors.models import VendorAccount, VendorKind
from vendors.ratelimit import DEFAULT_GROUP, AccountRateBudget, unix_to_datetime
from vendors.revont import schemas as revont
from vendors.revrag import schemas as revrag
from vendors.services import vendor_client_for
from vendors.voice_platform import schemas as voice


@dataclass(frozen=True)
class CallUpdate:
    """What a vendor says about one call at one moment, with its values verbatim."""

    vendor_call_id: str
    status: str
    reason: str | None = None
    from_number: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    summary: str = ""
    # [{"speaker": "agent"|"customer", "text", "start", "end"}]
    transcript: list[dict[str, Any]] = field(default_factory=list)
    extracted_variables: dict[str, Any] = field(default_factory=dict)
    recording_url: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def update_from_revrag(status: revrag.CallStatus) -> CallUpdate:
    return CallUpdate(
        vendor_call_id=status.call_id,
        status=status.call_status,
        reason=status.disconnection_reason,
        from_number=status.from_number or "",
        started_at=status.start_time,
        ended_at=status.end_time,
        duration_seconds=status.duration,
        summary=status.summary or "",
        transcript=[
            {
                "speaker": "agent" if message.role == "agent" else "customer",
                "text": message.content,
                "start": message.start_time,
                "end": message.end_time,
            }
            for message in status.transcription
        ],
        extracted_variables={item.name: item.value for item in status.custom_variables},
        recording_url=status.recording_url or "",
        payload=dict(status.raw),
    )


def update_from_voice_platform(call: voice.Call) -> CallUpdate:
    return CallUpdate(
        vendor_call_id=call.id,
        status=call.status,
        reason=call.end_reason,
        started_at=call.started_at,
        ended_at=call.ended_at,
        duration_seconds=call.duration_seconds,
        summary=call.summary or "",
        transcript=[
            {
                "speaker": "agent" if turn.speaker == "agent" else "customer",
                "text": turn.text,
                "start": turn.start,
                "end": turn.end,
            }
            for turn in call.transcript
        ],
        recording_url=call.recording_url or "",
        payload=dict(call.raw),
    )


def start_vendor_call(call: Call, *, retry: RetryPolicy | None = None) -> CallUpdate:
    """Ask the vendor to place the call, with the call's own idempotency key."""
    account = call.vendor_account
    metadata = {**call.metadata, "callops_call_id": call.pk}
    with vendor_client_for(account, retry=retry) as client:
        if account.kind == VendorKind.REVRAG:
            triggered = client.start_call(
                agent_id=call.agent.vendor_agent_id,
                to_phone_number=call.to_number,
                variable_fields=call.variables or None,
                custom_metadata=metadata,
                idempotency_key=str(call.idempotency_key),
            )
            return CallUpdate(
                vendor_call_id=triggered.call_id, status="QUEUED", payload=dict(triggered.raw)
            )
        if account.kind == VendorKind.VOICE_PLATFORM:
            created = client.start_call(
                agent_id=call.agent.vendor_agent_id,
                phone=call.to_number,
                variables=call.variables or None,
                metadata=metadata,
                idempotency_key=str(call.idempotency_key),
            )
            return update_from_voice_platform(created)
    raise ValueError(f"{account.get_kind_display()} does not place calls")


# The rate-limit group (vendors/ratelimit.py) each vendor's call start is counted in.
CALL_START_ENDPOINTS = {
    VendorKind.REVRAG: "POST /v1/campaigns/trigger/single",
    VendorKind.VOICE_PLATFORM: "POST /v1/calls",
}


def call_start_free_at(account: VendorAccount, *, queued: int = 0) -> datetime:
    """When the account's rate budget could start one more call, after `queued` calls already
    waiting for it; now when it has room. Read-only."""
    budget = AccountRateBudget(account)
    endpoint = CALL_START_ENDPOINTS.get(VendorKind(account.kind), DEFAULT_GROUP)
    return unix_to_datetime(budget.free_at(endpoint, queued=queued))


def fetch_vendor_call(
    account: VendorAccount, vendor_call_id: str, *, retry: RetryPolicy | None = None
) -> CallUpdate:
    with vendor_client_for(account, retry=retry) as client:
        if account.kind == VendorKind.REVRAG:
            return update_from_revrag(client.get_call_status(vendor_call_id))
        if account.kind == VendorKind.VOICE_PLATFORM:
            return update_from_voice_platform(client.get_call(vendor_call_id))
    raise ValueError(f"{account.get_kind_display()} does not place calls")


@dataclass(frozen=True)
class WebhookCallUpdate:
    """News about one call in a webhook. `call` is None when the event only says the record
    changed (Revont): the record is then read again from the vendor."""

    event_type: str
    vendor_call_id: str
    call: CallUpdate | None


def updates_from_webhook(
    account: VendorAccount, headers: Mapping[str, str], body: bytes
) -> list[WebhookCallUpdate]:
    """The call news in a stored (already verified) delivery; other events give nothing here."""
    updates = []
    for event in parse_delivery(account, headers, body):
        if isinstance(event.payload, revrag.CallStatus):
            update = update_from_revrag(event.payload)
        elif isinstance(event.payload, voice.Call):
            update = update_from_voice_platform(event.payload)
        elif isinstance(event.payload, revont.EventData):
            updates.append(WebhookCallUpdate(event.type, event.payload.call_id, None))
            continue
        else:
            continue
        updates.append(WebhookCallUpdate(event.type, update.vendor_call_id, update))
    return updates
