"""Webhook deliveries as the receiving endpoint and the processing task see them.

`verify_delivery` runs in the request: it checks the signature over the raw bytes when the
account has a webhook secret (without one, the secret token in the URL is the only proof) and
returns the vendor's own event id when the vendor sends one. `parse_delivery` runs later in a
task on a delivery verified when it arrived, so it checks no signature and no time window (a
replay hours later must still parse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from vendors.callcov import webhooks as callcov
from vendors.errors import WebhookRejected
from vendors.models import VendorAccount, VendorKind
from vendors.revont import webhooks as revont
from vendors.revrag import webhooks as revrag
from vendors.voice_platform import webhooks as voice_platform
from vendors.webhooks import WebhookEvent, lowercase_headers

WEBHOOK_MODULES: dict[str, ModuleType] = {
    VendorKind.REVRAG: revrag,
    VendorKind.VOICE_PLATFORM: voice_platform,
    VendorKind.REVONT: revont,
    VendorKind.CALLCOV: callcov,
}


def _module(account: VendorAccount) -> ModuleType:
    try:
        return WEBHOOK_MODULES[account.kind]
    except KeyError:
        raise WebhookRejected(f"{account.get_kind_display()} sends no webhooks.") from None


def verify_delivery(
    account: VendorAccount, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> str | None:
    """Raise WebhookRejected unless the delivery is authentic; return the vendor's event id."""
    module = _module(account)
    secrets = account.valid_webhook_secrets()
    if secrets:
        verify: Callable[..., Any] = module.verify_webhook
        verify(headers, body, secrets, now=now)
    header: str | None = module.EVENT_ID_HEADER
    if header is None:
        return None
    return lowercase_headers(headers).get(header) or None


def parse_delivery(
    account: VendorAccount, headers: Mapping[str, str], body: bytes
) -> list[WebhookEvent[Any]]:
    """The events in a stored delivery. Raises WebhookRejected when the body is not one."""
    return _module(account).read_webhook(headers, body)
