"""CallCov webhooks: the whole analysis object is POSTed to the submission's `webhook_url`.

CallCov documents no signature and no event id. callops authenticates the delivery by the
secret token in the webhook URL path (checked by the receiving view before it calls
`parse_webhook()`); the dedupe key is the analysis id and its status (an analysis reports
each final status once).
"""

from __future__ import annotations

from collections.abc import Mapping

from vendors.callcov.schemas import Analysis
from vendors.errors import VendorBadResponse, WebhookRejected
from vendors.text import load_vendor_json
from vendors.webhooks import WebhookEvent

Event = WebhookEvent[Analysis]
# The vendor sends no event id; callops dedupes on a digest of the body.
EVENT_ID_HEADER: str | None = None


def verify_webhook(
    headers: Mapping[str, str], body: bytes, secrets: list[str], *, now: float | None = None
) -> None:
    """CallCov signs nothing: the secret token in the URL, checked by the receiving view, is the
    only proof. Kept so every vendor's webhook module has the same shape."""


def parse_webhook(headers: Mapping[str, str], body: bytes, secrets: list[str]) -> list[Event]:
    """Parse a delivery whose URL token was already checked (see verify_webhook)."""
    return read_webhook(headers, body)


def read_webhook(headers: Mapping[str, str], body: bytes) -> list[Event]:
    try:
        analysis = Analysis.from_json(load_vendor_json(body))
    except (ValueError, VendorBadResponse) as exc:
        raise WebhookRejected("The CallCov webhook body is not an analysis.") from exc
    return [
        WebhookEvent(
            id=f"callcov:{analysis.id}:{analysis.status}",
            type=f"analysis.{analysis.status}",
            occurred_at=analysis.completed_at,
            payload=analysis,
            raw=analysis.raw,
        )
    ]
