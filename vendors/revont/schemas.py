"""Revont's call records (human sales reps, read-only for callops). Outcomes are kept as the
vendor spells them ("won", "follow_up"); `raw` is the whole record as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vendors.parsing import (
    as_object,
    object_list,
    optional_bool,
    optional_datetime,
    optional_float,
    optional_int,
    optional_str,
    required_str,
)


@dataclass(frozen=True)
class ActionItem:
    id: str | None
    text: str
    completed: bool


@dataclass(frozen=True)
class TranscriptTurn:
    speaker: str
    text: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class CallRecord:
    id: str
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    rep_id: str | None
    rep_name: str | None
    prospect_name: str | None
    prospect_email: str | None
    prospect_phone: str | None
    # Null until the vendor has scored the call (the summary arrives about 2 minutes later).
    coaching_score: int | None
    outcome: str | None
    summary: str | None
    action_items: tuple[ActionItem, ...]
    recording_url: str | None
    transcript: tuple[TranscriptTurn, ...]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> CallRecord:
        data = as_object(data, "a call record")
        return cls(
            id=required_str(data, "id"),
            created_at=optional_datetime(data, "created_at"),
            started_at=optional_datetime(data, "started_at"),
            ended_at=optional_datetime(data, "ended_at"),
            duration_seconds=optional_int(data, "duration_seconds"),
            rep_id=optional_str(data, "rep_id"),
            rep_name=optional_str(data, "rep_name"),
            prospect_name=optional_str(data, "prospect_name"),
            prospect_email=optional_str(data, "prospect_email"),
            prospect_phone=optional_str(data, "prospect_phone"),
            coaching_score=optional_int(data, "coaching_score"),
            outcome=optional_str(data, "outcome"),
            summary=optional_str(data, "summary"),
            action_items=tuple(
                ActionItem(
                    id=optional_str(item, "id"),
                    text=optional_str(item, "text") or "",
                    completed=optional_bool(item, "completed") or False,
                )
                for item in object_list(data, "action_items")
            ),
            recording_url=optional_str(data, "recording_url"),
            transcript=tuple(
                TranscriptTurn(
                    speaker=optional_str(turn, "speaker") or "",
                    text=optional_str(turn, "text") or "",
                    start=optional_float(turn, "start"),
                    end=optional_float(turn, "end"),
                )
                for turn in object_list(data, "transcript")
            ),
            raw=dict(data),
        )


@dataclass(frozen=True)
class EventData:
    """The `data` of a Revont webhook: always the call and rep, plus what the event adds."""

    call_id: str
    rep_id: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> EventData:
        data = as_object(data, "the event data")
        return cls(
            call_id=required_str(data, "call_id"),
            rep_id=optional_str(data, "rep_id"),
            raw=dict(data),
        )
