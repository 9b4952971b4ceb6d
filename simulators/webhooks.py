"""Outgoing webhooks: signing, delivery on worker threads, retries with backoff."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .core import Clock, Scheduler

MAX_ATTEMPTS = 5
DELIVERY_TIMEOUT_SECONDS = 30  # CallCov: the receiver must answer within 30 s


def hex_hmac_sha256(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def revrag_signature_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict:
    signature = hex_hmac_sha256(secret, f"{timestamp}.".encode() + body)
    return {
        "X-Webhook-Event": "call.ended",
        "X-Webhook-ID": event_id,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": f"t={timestamp},v1={signature}",
    }


def standard_webhook_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict:
    """Standard Webhooks headers; the secret string's bytes are the HMAC key (our reading)."""
    message = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return {
        "Webhook-Id": event_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": "v1," + base64.b64encode(digest).decode(),
    }


def revont_signature_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict:
    return {"X-Revont-Signature": "sha256=" + hex_hmac_sha256(secret, body)}


# Builds the signature headers for one attempt: (event_id, unix timestamp, body) -> headers.
HeaderBuilder = Callable[[str, int, bytes], dict[str, str]]


@dataclass
class Delivery:
    vendor: str
    url: str
    event: str
    event_id: str
    payload: Any
    build_headers: HeaderBuilder
    speed: float


class WebhookDispatcher:
    def __init__(self, clock: Clock, scheduler: Scheduler) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._attempts: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()

    def attempts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._attempts)

    def send(self, delivery: Delivery, copies: int = 1) -> None:
        """Deliver now; `copies` > 1 sends the same event that many times concurrently."""
        for _ in range(copies):
            self._start_attempt(delivery, attempt=1)

    def _start_attempt(self, delivery: Delivery, attempt: int) -> None:
        worker = threading.Thread(
            target=self._attempt, args=(delivery, attempt), name="sim-webhook", daemon=True
        )
        worker.start()

    def _attempt(self, delivery: Delivery, attempt: int) -> None:
        body = json.dumps(delivery.payload, default=str).encode()
        timestamp = int(self._clock.now())
        headers = {"Content-Type": "application/json", "User-Agent": "callops-sandbox"}
        headers.update(delivery.build_headers(delivery.event_id, timestamp, body))
        status: int | None = None
        error: str | None = None
        try:
            if not delivery.url.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {delivery.url}")
            # The scheme is checked just above, so urlopen cannot reach file: or custom schemes.
            request = urllib.request.Request(  # noqa: S310
                delivery.url, data=body, headers=headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:  # noqa: S310
                status = response.status
                response.read()
        except urllib.error.HTTPError as http_error:
            status = http_error.code
        except (OSError, ValueError) as connection_error:
            error = repr(connection_error)
        with self._lock:
            self._attempts.append(
                {
                    "t": self._clock.now(),
                    "vendor": delivery.vendor,
                    "url": delivery.url,
                    "event": delivery.event,
                    "event_id": delivery.event_id,
                    "status": status,
                    "attempt": attempt,
                    "error": error,
                }
            )
        delivered = status is not None and 200 <= status < 300
        if not delivered and attempt < MAX_ATTEMPTS:
            backoff = 2 ** (attempt - 1) / delivery.speed
            self._scheduler.at(
                self._clock.now() + backoff, lambda: self._start_attempt(delivery, attempt + 1)
            )
