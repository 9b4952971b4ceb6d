"""Voice platform webhooks (`call.started`, `call.ended`), signed the Standard Webhooks way.

Headers Webhook-Id (the dedupe key), Webhook-Timestamp (unix) and Webhook-Signature, a
space-separated list of "v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>". The secret
string's own bytes are the HMAC key (docs/vendor-readings.md; Standard Webhooks would
base64-decode a "whsec_" secret instead; the HMAC key is chosen in one line below).

`verify_webhook` checks the raw bytes when the delivery arrives; `read_webhook` parses it later.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from vendors.errors import VendorBadResponse, WebhookRejected
from vendors.parsing import as_object, optional_datetime, optional_str
from vendors.text import load_vendor_json
from vendors.voice_platform.schemas import Call
from vendors.webhooks import (
    WebhookEvent,
    any_secret_matches,
    check_timestamp,
    hmac_sha256,
    lowercase_headers,
)

Event = WebhookEvent[Call]
# The header carrying the vendor's event id (the dedupe key), if it sends one.
EVENT_ID_HEADER: str | None = "webhook-id"


def verify_webhook(
    headers: Mapping[str, str], body: bytes, secrets: list[str], *, now: float | None = None
) -> str:
    """Raise WebhookRejected unless signed by one of `secrets`; return the Webhook-Id."""
    header = lowercase_headers(headers)
    event_id = header.get("webhook-id", "")
    if not event_id:
        raise WebhookRejected("The webhook has no Webhook-Id.")
    timestamp = check_timestamp(header.get("webhook-timestamp"), now=now)
    candidates = []
    for entry in header.get("webhook-signature", "").split():
        version, _, signature = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidates.append(base64.b64decode(signature, validate=True))
        except (binascii.Error, ValueError):
            continue
    message = f"{event_id}.{timestamp}.".encode() + body
    if not any_secret_matches(secrets, candidates, lambda secret: hmac_sha256(secret, message)):
        raise WebhookRejected("The voice platform webhook signature does not match.")
    return event_id


def read_webhook(headers: Mapping[str, str], body: bytes) -> list[Event]:
    header = lowercase_headers(headers)
    try:
        envelope = as_object(load_vendor_json(body), "the webhook body")
        call = Call.from_json(envelope.get("data"))
    except (ValueError, VendorBadResponse) as exc:
        raise WebhookRejected("The voice platform webhook body is not a call event.") from exc
    return [
        WebhookEvent(
            id=header.get("webhook-id", ""),
            type=optional_str(envelope, "type") or "",
            occurred_at=optional_datetime(envelope, "created_at"),
            payload=call,
            raw=dict(envelope),
        )
    ]


def parse_webhook(
    headers: Mapping[str, str], body: bytes, secrets: list[str], *, now: float | None = None
) -> list[Event]:
    verify_webhook(headers, body, secrets, now=now)
    return read_webhook(headers, body)
