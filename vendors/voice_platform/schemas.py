"""The voice platform's objects as callops reads them. Statuses and end reasons are kept as
the vendor spells them ("in_progress", "no_answer"); `raw` is the whole object as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from vendors.parsing import (
    as_object,
    object_list,
    optional_bool,
    optional_datetime,
    optional_float,
    optional_int,
    optional_object,
    optional_str,
    required_str,
)


class ContactInput(TypedDict, total=False):
    """One contact to push: phone (E.164) is required and is the vendor's natural key."""

    phone: str
    name: str
    email: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class TranscriptTurn:
    speaker: str
    text: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Call:
    id: str
    status: str
    agent_id: str | None
    campaign_id: str | None
    phone: str | None
    end_reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    transcript: tuple[TranscriptTurn, ...]
    summary: str | None
    recording_url: str | None
    variables: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Call:
        data = as_object(data, "a call")
        return cls(
            id=required_str(data, "id"),
            status=required_str(data, "status"),
            agent_id=optional_str(data, "agent_id"),
            campaign_id=optional_str(data, "campaign_id"),
            phone=optional_str(data, "phone"),
            end_reason=optional_str(data, "end_reason"),
            started_at=optional_datetime(data, "started_at"),
            ended_at=optional_datetime(data, "ended_at"),
            duration_seconds=optional_float(data, "duration_seconds"),
            transcript=tuple(
                TranscriptTurn(
                    speaker=optional_str(turn, "speaker") or "",
                    text=optional_str(turn, "text") or "",
                    start=optional_float(turn, "start"),
                    end=optional_float(turn, "end"),
                )
                for turn in object_list(data, "transcript")
            ),
            summary=optional_str(data, "summary"),
            recording_url=optional_str(data, "recording_url"),
            variables=optional_object(data, "variables") or {},
            metadata=optional_object(data, "metadata") or {},
            created_at=optional_datetime(data, "created_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class CampaignStats:
    contacts: int | None
    dialled: int | None
    connected: int | None
    completed: int | None


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    agent_id: str | None
    status: str
    config: dict[str, Any]
    stats: CampaignStats
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Campaign:
        data = as_object(data, "a campaign")
        stats = optional_object(data, "stats") or {}
        return cls(
            id=required_str(data, "id"),
            name=optional_str(data, "name") or "",
            agent_id=optional_str(data, "agent_id"),
            status=required_str(data, "status"),
            config=optional_object(data, "config") or {},
            stats=CampaignStats(
                contacts=optional_int(stats, "contacts"),
                dialled=optional_int(stats, "dialled"),
                connected=optional_int(stats, "connected"),
                completed=optional_int(stats, "completed"),
            ),
            raw=dict(data),
        )


@dataclass(frozen=True)
class BulkContactItem:
    index: int
    id: str
    phone: str | None


@dataclass(frozen=True)
class BulkContactError:
    index: int
    detail: str


@dataclass(frozen=True)
class BulkContactsResult:
    created: int
    updated: int
    items: tuple[BulkContactItem, ...]
    errors: tuple[BulkContactError, ...]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> BulkContactsResult:
        data = as_object(data, "the bulk contacts answer")
        return cls(
            created=optional_int(data, "created") or 0,
            updated=optional_int(data, "updated") or 0,
            items=tuple(
                BulkContactItem(
                    index=optional_int(item, "index") or 0,
                    id=required_str(item, "id"),
                    phone=optional_str(item, "phone"),
                )
                for item in object_list(data, "items")
            ),
            errors=tuple(
                BulkContactError(
                    index=optional_int(item, "index") or 0,
                    detail=optional_str(item, "detail") or "",
                )
                for item in object_list(data, "errors")
            ),
            raw=dict(data),
        )


@dataclass(frozen=True)
class CallControlResult:
    """The answer to end, transfer and metadata writes on a live call."""

    call_id: str
    status: str | None
    queue: str | None
    metadata: dict[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> CallControlResult:
        data = as_object(data, "a call control answer")
        return cls(
            call_id=required_str(data, "call_id"),
            status=optional_str(data, "status"),
            queue=optional_str(data, "queue"),
            metadata=optional_object(data, "metadata"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class AgentAvailability:
    queue: str
    available_agents: int
    available: bool
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> AgentAvailability:
        data = as_object(data, "agent availability")
        count = optional_int(data, "available_agents") or 0
        available = optional_bool(data, "available")
        return cls(
            queue=optional_str(data, "queue") or "",
            available_agents=count,
            available=available if available is not None else count > 0,
            raw=dict(data),
        )


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    # The signing secret: callops stores it encrypted on the account and never logs it.
    secret: str | None = field(repr=False)
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Webhook:
        data = as_object(data, "a webhook")
        events = data.get("events")
        return cls(
            id=required_str(data, "id"),
            url=optional_str(data, "url") or "",
            events=tuple(e for e in events if isinstance(e, str))
            if isinstance(events, list)
            else (),
            secret=optional_str(data, "secret"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class VoiceAgent:
    id: str
    name: str
    flow_id: str | None
    voice: str | None
    language: str | None
    config: dict[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> VoiceAgent:
        data = as_object(data, "an agent")
        return cls(
            id=required_str(data, "id"),
            name=optional_str(data, "name") or "",
            flow_id=optional_str(data, "flow_id"),
            voice=optional_str(data, "voice"),
            language=optional_str(data, "language"),
            config=optional_object(data, "config") or {},
            raw=dict(data),
        )


@dataclass(frozen=True)
class Flow:
    id: str
    name: str
    config: dict[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Flow:
        data = as_object(data, "a flow")
        return cls(
            id=required_str(data, "id"),
            name=optional_str(data, "name") or "",
            config=optional_object(data, "config") or {},
            raw=dict(data),
        )


@dataclass(frozen=True)
class Speaker:
    name: str
    status: str | None
    samples: int | None
    language: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Speaker:
        data = as_object(data, "a speaker")
        return cls(
            name=required_str(data, "name"),
            status=optional_str(data, "status"),
            samples=optional_int(data, "samples"),
            language=optional_str(data, "language"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class CustomerImportResult:
    index: int
    status: str
    id: str | None
    detail: str | None

    @classmethod
    def from_json(cls, data: Any) -> CustomerImportResult:
        data = as_object(data, "a customer import result")
        return cls(
            index=optional_int(data, "index") or 0,
            status=optional_str(data, "status") or "",
            id=optional_str(data, "id"),
            detail=optional_str(data, "detail"),
        )
