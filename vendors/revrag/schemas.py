"""Revrag's objects as callops reads them. Values are kept verbatim (statuses like "QUEUED",
reasons like "CALL_NOT_PICKED"); normalising them is the calls app's job. `raw` is the whole
object as received, so nothing the vendor adds is lost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vendors.parsing import (
    JsonObject,
    as_list,
    as_object,
    object_list,
    optional_bool,
    optional_datetime,
    optional_float,
    optional_object,
    optional_str,
    required_str,
)


@dataclass(frozen=True)
class AgentVariable:
    name: str
    type: str | None
    default_value: str | None


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    variables: tuple[AgentVariable, ...]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Agent:
        data = as_object(data, "an agent")
        return cls(
            id=required_str(data, "id"),
            name=optional_str(data, "name") or "",
            variables=tuple(
                AgentVariable(
                    name=required_str(item, "name"),
                    type=optional_str(item, "type"),
                    default_value=optional_str(item, "default_value"),
                )
                for item in object_list(data, "variables")
            ),
            raw=dict(data),
        )


def agents_from_json(data: Any) -> list[Agent]:
    return [Agent.from_json(item) for item in as_list(data, "the agent list")]


@dataclass(frozen=True)
class TriggeredCall:
    call_id: str
    agent_id: str | None
    to_phone_number: str | None
    message: str
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> TriggeredCall:
        data = as_object(data, "the trigger answer")
        return cls(
            call_id=required_str(data, "call_id"),
            agent_id=optional_str(data, "agent_id"),
            to_phone_number=optional_str(data, "to_phone_number"),
            message=optional_str(data, "message") or "",
            raw=dict(data),
        )


@dataclass(frozen=True)
class TranscriptMessage:
    role: str
    content: str
    start_time: float | None
    end_time: float | None


@dataclass(frozen=True)
class ExtractedVariable:
    name: str
    value: Any


@dataclass(frozen=True)
class CallStatus:
    """The status body, which is also the `call.ended` webhook body."""

    call_id: str
    call_status: str
    agent_id: str | None
    from_number: str | None
    to_number: str | None
    summary: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration: float | None
    disconnection_reason: str | None
    recording_url: str | None
    transcription: tuple[TranscriptMessage, ...]
    custom_variables: tuple[ExtractedVariable, ...]
    # The response spells it with an extra "s" (the request says variable_fields).
    variables_fields: dict[str, Any] | None
    custom_metadata: dict[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> CallStatus:
        data = as_object(data, "a call status")
        transcription = optional_object(data, "transcription") or {}
        return cls(
            call_id=required_str(data, "call_id"),
            call_status=required_str(data, "call_status"),
            agent_id=optional_str(data, "agent_id"),
            from_number=optional_str(data, "from_number"),
            to_number=optional_str(data, "to_number"),
            summary=optional_str(data, "summary"),
            start_time=optional_datetime(data, "start_time"),
            end_time=optional_datetime(data, "end_time"),
            duration=optional_float(data, "duration"),
            disconnection_reason=optional_str(data, "disconnection_reason"),
            recording_url=optional_str(data, "recording_url"),
            transcription=tuple(_message(item) for item in object_list(transcription, "messages")),
            custom_variables=tuple(
                ExtractedVariable(name=optional_str(item, "name") or "", value=item.get("value"))
                for item in object_list(data, "custom_variables")
            ),
            variables_fields=optional_object(data, "variables_fields"),
            custom_metadata=optional_object(data, "custom_metadata"),
            raw=dict(data),
        )


def _message(item: JsonObject) -> TranscriptMessage:
    return TranscriptMessage(
        role=optional_str(item, "role") or "",
        content=optional_str(item, "content") or "",
        start_time=optional_float(item, "start_time"),
        end_time=optional_float(item, "end_time"),
    )


def trigger_succeeded(data: Any) -> bool:
    """`success` may be absent; only an explicit false is a refusal."""
    return optional_bool(as_object(data, "the trigger answer"), "success") is not False
