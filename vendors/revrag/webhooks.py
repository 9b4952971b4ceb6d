"""Revrag's `call.ended` webhook: HMAC-SHA256 over "{timestamp}.{raw body}".

Headers (NOTES.md): X-Webhook-Event, X-Webhook-ID (the dedupe key), X-Webhook-Timestamp,
X-Webhook-Signature "t=<unix>,v1=<hex>" (several v1 values are accepted).

`verify_webhook` checks the raw bytes and runs when the delivery arrives; `read_webhook` parses
a delivery that was verified then (a replay later would fail the time window).
"""

from __future__ import annotations

from collections.abc import Mapping

from vendors.errors import VendorBadResponse, WebhookRejected
from vendors.revrag.schemas import CallStatus
from vendors.text import load_vendor_json
from vendors.webhooks import (
    WebhookEvent,
    any_secret_matches,
    check_timestamp,
    hmac_sha256,
    lowercase_headers,
)

Event = WebhookEvent[CallStatus]
# The header carrying the vendor's event id (the dedupe key), if it sends one.
EVENT_ID_HEADER: str | None = "x-webhook-id"


def verify_webhook(
    headers: Mapping[str, str], body: bytes, secrets: list[str], *, now: float | None = None
) -> str | None:
    """Raise WebhookRejected unless signed by one of `secrets`; return the X-Webhook-ID."""
    header = lowercase_headers(headers)
    parts: dict[str, list[str]] = {}
    for item in header.get("x-webhook-signature", "").split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    signed_timestamp = (parts.get("t") or [header.get("x-webhook-timestamp", "")])[0]
    if header.get("x-webhook-timestamp", signed_timestamp) != signed_timestamp:
        raise WebhookRejected("The timestamp header and the signed timestamp differ.")
    timestamp = check_timestamp(signed_timestamp, now=now)
    candidates = []
    for value in parts.get("v1", []):
        try:
            candidates.append(bytes.fromhex(value))
        except ValueError:
            continue
    message = f"{timestamp}.".encode() + body
    if not any_secret_matches(secrets, candidates, lambda secret: hmac_sha256(secret, message)):
        raise WebhookRejected("The Revrag webhook signature does not match.")
    return header.get("x-webhook-id") or None


def read_webhook(headers: Mapping[str, str], body: bytes) -> list[Event]:
    header = lowercase_headers(headers)
    try:
        call = CallStatus.from_json(load_vendor_json(body))
    except (ValueError, VendorBadResponse) as exc:
        raise WebhookRejected("The Revrag webhook body is not a call status.") from exc
    event_id = header.get("x-webhook-id") or f"{call.call_id}:{call.call_status}"
    return [
        WebhookEvent(
            id=event_id,
            type=header.get("x-webhook-event", "call.ended"),
            occurred_at=call.end_time,
            payload=call,
            raw=call.raw,
        )
    ]


def parse_webhook(
    headers: Mapping[str, str], body: bytes, secrets: list[str], *, now: float | None = None
) -> list[Event]:
    verify_webhook(headers, body, secrets, now=now)
    return read_webhook(headers, body)
