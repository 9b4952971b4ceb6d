"""CallCov's analysis objects (NOTES.md shape). `status` is kept as sent ("processing",
"completed", "failed"); `results` stays a dict because its sections are vendor-defined and
callops shows them as they come. `raw` is the whole object as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vendors.parsing import (
    as_object,
    optional_bool,
    optional_datetime,
    optional_float,
    optional_int,
    optional_object,
    optional_str,
    required_str,
)

# Fields callops does not put in the analysis' metadata itself; the rest is what we sent.
VENDOR_METADATA_FIELDS = ("webhook_url", "completed_at", "processing_time_ms", "error_message")


@dataclass(frozen=True)
class AudioInfo:
    url: str | None
    size_bytes: int | None
    format: str | None
    duration_seconds: float | None


@dataclass(frozen=True)
class Analysis:
    id: str
    status: str
    created: datetime | None
    livemode: bool | None
    agent_id: str | None
    contact_id: str | None
    duration_seconds: float | None
    audio: AudioInfo
    transcript: dict[str, Any] | None
    results: dict[str, Any] | None
    # The metadata callops sent, echoed back unchanged (without the vendor's own fields).
    metadata: dict[str, Any]
    completed_at: datetime | None
    processing_time_ms: int | None
    error_message: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Analysis:
        data = as_object(data, "an analysis")
        call = optional_object(data, "call") or {}
        audio = optional_object(data, "audio") or {}
        metadata = optional_object(data, "metadata") or {}
        return cls(
            id=required_str(data, "id"),
            status=required_str(data, "status"),
            created=optional_datetime(data, "created"),
            livemode=optional_bool(data, "livemode"),
            agent_id=optional_str(call, "agent_id"),
            contact_id=optional_str(call, "contact_id"),
            duration_seconds=optional_float(call, "duration_seconds"),
            audio=AudioInfo(
                url=optional_str(audio, "url"),
                size_bytes=optional_int(audio, "size_bytes"),
                format=optional_str(audio, "format"),
                duration_seconds=optional_float(audio, "duration_seconds"),
            ),
            transcript=optional_object(data, "transcript"),
            results=optional_object(data, "results"),
            metadata={k: v for k, v in metadata.items() if k not in VENDOR_METADATA_FIELDS},
            completed_at=optional_datetime(metadata, "completed_at"),
            processing_time_ms=optional_int(metadata, "processing_time_ms"),
            error_message=optional_str(metadata, "error_message"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Usage:
    period_start: datetime | None
    period_end: datetime | None
    analyses: int | None
    audio_minutes: float | None
    amount_due_cents: int | None
    currency: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Usage:
        data = as_object(data, "the usage summary")
        return cls(
            period_start=optional_datetime(data, "period_start"),
            period_end=optional_datetime(data, "period_end"),
            analyses=optional_int(data, "analyses"),
            audio_minutes=optional_float(data, "audio_minutes"),
            amount_due_cents=optional_int(data, "amount_due_cents"),
            currency=optional_str(data, "currency"),
            raw=dict(data),
        )
