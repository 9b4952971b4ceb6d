"""What every vendor's `parse_webhook` shares: the event type, HMAC checks, the time window.

Signatures are checked over the raw bytes before anything is parsed, with
`hmac.compare_digest`, against every secret currently valid (rotation keeps two at once).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from vendors.errors import WebhookRejected

PayloadT = TypeVar("PayloadT")

TIMESTAMP_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class WebhookEvent(Generic[PayloadT]):
    """One verified event. `id` is the dedupe key: the same on every redelivery."""

    id: str
    type: str
    occurred_at: datetime | None
    payload: PayloadT
    raw: Mapping[str, Any] = field(repr=False)


def lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def any_secret_matches(
    secrets: Iterable[str], candidates: Iterable[bytes], sign: Callable[[str], bytes]
) -> bool:
    """Whether `sign(secret)` equals one of the candidate signatures for any valid secret.

    Every comparison runs (no early exit on the first secret) so timing reveals nothing.
    """
    wanted = list(candidates)
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = sign(secret)
        for candidate in wanted:
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def check_timestamp(
    value: str | None, *, now: float | None = None, tolerance: int = TIMESTAMP_TOLERANCE_SECONDS
) -> int:
    """The signed unix timestamp, refused when missing or more than `tolerance` s away."""
    try:
        timestamp = int(value or "")
    except ValueError:
        raise WebhookRejected("The webhook timestamp is missing or not a unix time.") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookRejected("The webhook timestamp is outside the allowed window.")
    return timestamp
