"""Revor's connected accounts and outreach jobs. Job statuses are kept as sent ("queued",
"scheduled", "running", "succeeded", "failed", "cancelled"); `raw` is the object as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from vendors.parsing import (
    as_object,
    optional_bool,
    optional_datetime,
    optional_int,
    optional_object,
    optional_str,
    required_str,
)

CHANNELS = ("email", "linkedin", "whatsapp")


class Recipient(TypedDict, total=False):
    """`address` for email, `profile_url` for LinkedIn, `phone` (E.164) for WhatsApp."""

    address: str
    profile_url: str
    phone: str


class Attachment(TypedDict):
    filename: str
    contentBase64: str  # noqa: N815 - the vendor's field name


class Content(TypedDict, total=False):
    """Email: `subject` plus `text` or `html`; LinkedIn and WhatsApp: `text` or `attachments`."""

    subject: str
    text: str
    html: str
    attachments: list[Attachment]


@dataclass(frozen=True)
class ConnectAccount:
    account_id: str
    channel: str
    name: str
    account_identifier: str | None
    status: str | None
    lifecycle_status: str | None
    can_send: bool
    can_receive: bool
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> ConnectAccount:
        data = as_object(data, "a connected account")
        return cls(
            account_id=required_str(data, "account_id"),
            channel=optional_str(data, "channel") or "",
            name=optional_str(data, "name") or "",
            account_identifier=optional_str(data, "account_identifier"),
            status=optional_str(data, "status"),
            lifecycle_status=optional_str(data, "lifecycle_status"),
            can_send=optional_bool(data, "can_send") or False,
            can_receive=optional_bool(data, "can_receive") or False,
            raw=dict(data),
        )


@dataclass(frozen=True)
class JobResult:
    resolved_action: str | None
    message_id: str | None
    status: str | None


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    attempt_count: int | None
    next_attempt_at: datetime | None
    result: JobResult | None
    error: JobError | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> Job:
        data = as_object(data, "a job")
        result = optional_object(data, "result")
        error = optional_object(data, "error")
        return cls(
            id=required_str(data, "id"),
            status=required_str(data, "status"),
            scheduled_at=optional_datetime(data, "scheduled_at"),
            started_at=optional_datetime(data, "started_at"),
            finished_at=optional_datetime(data, "finished_at"),
            attempt_count=optional_int(data, "attempt_count"),
            next_attempt_at=optional_datetime(data, "next_attempt_at"),
            result=JobResult(
                resolved_action=optional_str(result, "resolved_action"),
                message_id=optional_str(result, "message_id"),
                status=optional_str(result, "status"),
            )
            if result is not None
            else None,
            error=JobError(
                code=optional_str(error, "code") or "",
                message=optional_str(error, "message") or "",
            )
            if error is not None
            else None,
            raw=dict(data),
        )
