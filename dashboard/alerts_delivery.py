"""Sending one alert notification: an email through Django's email backend, or a webhook signed
the Standard Webhooks way (https://www.standardwebhooks.com/).

A webhook carries `webhook-id` (the notification's message id: the same on every retry, so the
receiver can drop a repeat), `webhook-timestamp` (unix seconds of this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the
base64-decoded part of the rule's `whsec_` secret. Redirects are not followed and only 2xx
counts as delivered. Callers see DeliveryFailed, never a `requests` or SMTP exception.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import smtplib
import time
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0


class DeliveryFailed(Exception):
    """The message did not arrive (the text says why); it may be tried again."""


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def post_webhook(*, url: str, secret: str, message_id: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "callops-alerts",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
    try:
        response = requests.post(
            url,
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise DeliveryFailed(f"The webhook could not be reached: {type(exc).__name__}.") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"The webhook answered HTTP {response.status_code}.")


def send_email(*, recipients: list[str], subject: str, text: str) -> None:
    try:
        send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"The email could not be sent: {exc}"[:300]) from exc
