"""Revont webhooks: `X-Revont-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.

The scheme signs no timestamp and sends no event id, so there is no time window to check
and the dedupe key is a digest of the signed body (a redelivery sends the same bytes).
Events: call.started, call.ended, summary.ready, action_item.created/completed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from vendors.errors import VendorBadResponse, WebhookRejected
from vendors.parsing import as_object, optional_datetime, optional_str
from vendors.revont.schemas import EventData
from vendors.text import load_vendor_json
from vendors.webhooks import WebhookEvent, any_secret_matches, hmac_sha256, lowercase_headers

Event = WebhookEvent[EventData]
# The vendor sends no event id; callops dedupes on a digest of the body.
EVENT_ID_HEADER: str | None = None


def verify_webhook(
    headers: Mapping[str, str], body: bytes, secrets: list[str], *, now: float | None = None
) -> None:
    """Raise WebhookRejected unless signed by one of `secrets` (Revont sends no event id)."""
    header = lowercase_headers(headers)
    scheme, _, hex_signature = header.get("x-revont-signature", "").partition("=")
    try:
        candidates = [bytes.fromhex(hex_signature)] if scheme == "sha256" else []
    except ValueError:
        candidates = []
    if not any_secret_matches(secrets, candidates, lambda secret: hmac_sha256(secret, body)):
        raise WebhookRejected("The Revont webhook signature does not match.")


def read_webhook(headers: Mapping[str, str], body: bytes) -> list[Event]:
    try:
        envelope = as_object(load_vendor_json(body), "the webhook body")
        data = EventData.from_json(envelope.get("data"))
    except (ValueError, VendorBadResponse) as exc:
        raise WebhookRejected("The Revont webhook body is not an event.") from exc
    return [
        WebhookEvent(
            id="revont:" + hashlib.sha256(body).hexdigest(),
            type=optional_str(envelope, "event") or "",
            occurred_at=optional_datetime(envelope, "timestamp"),
            payload=data,
            raw=dict(envelope),
        )
    ]


def parse_webhook(headers: Mapping[str, str], body: bytes, secrets: list[str]) -> list[Event]:
    verify_webhook(headers, body, secrets)
    return read_webhook(headers, body)
