"""The one family of errors every vendor client raises, and the parser of every error envelope.

Callers see these and nothing from `requests`. `permanent` says whether the same request can
ever succeed later: a Celery task retries a transient error and records a permanent one.
The message is the vendor's own human text (shown to admins as the vendor wrote it), with the
API key scrubbed out in case a vendor echoes it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One invalid input: where it is (`body.audio_url`), what is wrong, the vendor's type."""

    field: str
    message: str
    type: str = ""


class VendorError(Exception):
    """A vendor request that did not succeed."""

    permanent: bool = True
    # Whether the vendor may have received the request (and acted on it). The HTTP core says
    # False only when no attempt can have reached it (no connection made, an error answer, an
    # open circuit); an error raised after a 2xx keeps True.
    maybe_delivered: bool = True

    def __init__(
        self,
        message: str,
        *,
        vendor: str = "",
        status: int | None = None,
        code: str = "",
        request_id: str = "",
        field_errors: tuple[FieldError, ...] = (),
        permanent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.vendor = vendor
        self.status = status
        self.code = code
        self.request_id = request_id
        self.field_errors = field_errors
        if permanent is not None:
            self.permanent = permanent

    def __str__(self) -> str:
        where = f"{self.vendor} " if self.vendor else ""
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        return f"{where}{status}{code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class VendorAuthError(VendorError):
    """401: the key is missing, wrong, expired or revoked."""


class VendorPermissionError(VendorError):
    """403: the key is valid but lacks the scope or plan for this action."""


class VendorNotFound(VendorError):
    """404: the resource does not exist (or not for this key)."""


class VendorConflict(VendorError):
    """409: a state conflict, or an idempotency key reused with a different body."""

    @property
    def is_idempotency_conflict(self) -> bool:
        return "idempotency" in self.code or "idempotency" in self.message.lower()


class VendorValidationError(VendorError):
    """400 or 422: the vendor refused the input; `field_errors` says which field when it can."""


class VendorRateLimited(VendorError):
    """429, or our own budget would have earned one: retry at `retry_at`, not before."""

    permanent = False

    def __init__(self, message: str, *, retry_at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


class VendorUnavailable(VendorError):
    """5xx: the vendor (or something behind it) failed; the same request may work later."""

    permanent = False


class VendorTransportError(VendorError):
    """No usable HTTP answer: connection refused or reset, TLS failure, response lost."""

    permanent = False


class VendorTimeout(VendorTransportError):
    """The vendor did not connect or answer within the timeout."""


class VendorBadResponse(VendorError):
    """A 2xx whose body is not what the vendor's document describes."""

    permanent = False


class WebhookRejected(Exception):
    """An incoming webhook failed verification (signature, timestamp) or is not parseable."""


_STATUS_ERRORS: dict[int, type[VendorError]] = {
    400: VendorValidationError,
    401: VendorAuthError,
    403: VendorPermissionError,
    404: VendorNotFound,
    409: VendorConflict,
    422: VendorValidationError,
    429: VendorRateLimited,
}

MAX_MESSAGE_LENGTH = 500


def error_class_for(status: int) -> type[VendorError]:
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if status >= 500:
        return VendorUnavailable
    return VendorError


@dataclass(frozen=True)
class ParsedEnvelope:
    message: str
    code: str = ""
    request_id: str = ""
    field_errors: tuple[FieldError, ...] = ()


def parse_error_body(body: bytes) -> ParsedEnvelope:
    """Understand every envelope the five vendors use, and bodies that are not JSON at all.

    - `{"error": {"code", "message"}}` (Revont)
    - `{"ok": false, "error": {"code", "message", "request_id"}}` (Revor)
    - `{"detail": "..."}` (voice platform, CallCov auth errors)
    - `{"detail": [{"loc", "msg", "type"}]}` (CallCov / FastAPI validation)
    - `{"success": false, "message": "..."}` (Revrag, per docs/vendor-readings.md)
    """
    try:
        payload: Any = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, Mapping):
        text = body.decode("utf-8", errors="replace").strip()
        return ParsedEnvelope(message=text[:MAX_MESSAGE_LENGTH])

    error = payload.get("error")
    if isinstance(error, Mapping):
        return ParsedEnvelope(
            message=_text(error.get("message")) or _text(error.get("code")),
            code=_text(error.get("code")),
            request_id=_text(error.get("request_id")) or _text(payload.get("request_id")),
        )
    if isinstance(error, str):
        return ParsedEnvelope(message=error, request_id=_text(payload.get("request_id")))

    detail = payload.get("detail")
    if isinstance(detail, str):
        return ParsedEnvelope(message=detail)
    if isinstance(detail, list):
        field_errors = tuple(_field_error(item) for item in detail if isinstance(item, Mapping))
        message = "; ".join(
            f"{item.field}: {item.message}" if item.field else item.message for item in field_errors
        )
        return ParsedEnvelope(message=message, field_errors=field_errors)

    message = payload.get("message")
    if isinstance(message, str):
        return ParsedEnvelope(message=message, code=_text(payload.get("code")))
    return ParsedEnvelope(message=json.dumps(payload)[:MAX_MESSAGE_LENGTH])


def _field_error(item: Mapping[str, Any]) -> FieldError:
    location = item.get("loc")
    parts = [str(part) for part in location] if isinstance(location, list) else []
    # FastAPI prefixes where the value came from ("body", "query"); the field is the rest.
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return FieldError(
        field=".".join(parts), message=_text(item.get("msg")), type=_text(item.get("type"))
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def scrub(text: str, secret: str) -> str:
    """Remove a secret from text a vendor sent us, in case it echoes the key back."""
    return text.replace(secret, "[redacted]") if secret else text
