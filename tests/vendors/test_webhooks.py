"""Webhook signatures: valid, invalid, rotated secrets and the 300 s window."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from vendors.errors import WebhookRejected
from vendors.revont.webhooks import parse_webhook as parse_revont
from vendors.revrag.webhooks import parse_webhook as parse_revrag
from vendors.voice_platform.webhooks import parse_webhook as parse_voice

OLD, NEW = "whsec_old", "whsec_new"
CALL = {"call_id": "c-1", "call_status": "ENDED", "disconnection_reason": "USER_HANGUP"}
VOICE_EVENT = {
    "id": "evt_1",
    "type": "call.ended",
    "created_at": "2026-01-01T00:00:00+00:00",
    "data": {"id": "v-1", "status": "ended", "end_reason": "completed"},
}


def revrag_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "X-Webhook-Event": "call.ended",
        "X-Webhook-ID": "evt_42",
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": f"t={timestamp},v1={signature.hexdigest()}",
    }


def voice_headers(
    secret: str, body: bytes, timestamp: int, event_id: str = "evt_1"
) -> dict[str, str]:
    message = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_it_accepts_a_valid_revrag_signature_with_old_and_new_secrets():
    body = json.dumps(CALL).encode()
    now = int(time.time())

    signed_with_old = parse_revrag(revrag_headers(OLD, body, now), body, [NEW, OLD])
    signed_with_new = parse_revrag(revrag_headers(NEW, body, now), body, [NEW, OLD])

    assert signed_with_old[0].id == signed_with_new[0].id == "evt_42"
    assert signed_with_old[0].payload.disconnection_reason == "USER_HANGUP"


def test_it_rejects_a_retired_secret_a_changed_body_and_no_signature():
    body = json.dumps(CALL).encode()
    now = int(time.time())
    headers = revrag_headers(OLD, body, now)

    with pytest.raises(WebhookRejected):
        parse_revrag(headers, body, [NEW])
    with pytest.raises(WebhookRejected):
        parse_revrag(headers, body.replace(b"ENDED", b"ENDEE"), [OLD])
    with pytest.raises(WebhookRejected):
        parse_revrag({}, body, [OLD])


@pytest.mark.parametrize("offset", [-301, 301])
def test_it_rejects_timestamps_outside_300_seconds(offset):
    body = json.dumps(CALL).encode()
    moment = int(time.time()) + offset
    voice_body = json.dumps(VOICE_EVENT).encode()

    with pytest.raises(WebhookRejected):
        parse_revrag(revrag_headers(OLD, body, moment), body, [OLD])
    with pytest.raises(WebhookRejected):
        parse_voice(voice_headers(OLD, voice_body, moment), voice_body, [OLD])


@pytest.mark.parametrize("offset", [-299, 299])
def test_it_accepts_timestamps_inside_300_seconds(offset):
    body = json.dumps(VOICE_EVENT).encode()
    moment = int(time.time()) + offset

    events = parse_voice(voice_headers(NEW, body, moment), body, [OLD, NEW])

    assert events[0].payload.end_reason == "completed"


def test_it_accepts_one_valid_signature_among_several():
    body = json.dumps(VOICE_EVENT).encode()
    now = int(time.time())
    headers = voice_headers(NEW, body, now)
    wrong = voice_headers("whsec_wrong", body, now)["webhook-signature"]
    headers["webhook-signature"] = f"{wrong} {headers['webhook-signature']}"

    assert parse_voice(headers, body, [NEW])[0].id == "evt_1"
    with pytest.raises(WebhookRejected):
        parse_voice({**headers, "webhook-signature": wrong}, body, [NEW])


def test_it_verifies_revont_signatures_over_the_raw_body():
    body = json.dumps(
        {"event": "summary.ready", "timestamp": "2026-01-01T00:00:00Z", "data": {"call_id": "r-1"}}
    ).encode()
    signature = "sha256=" + hmac.new(OLD.encode(), body, hashlib.sha256).hexdigest()

    events = parse_revont({"X-Revont-Signature": signature}, body, [NEW, OLD])

    assert (events[0].type, events[0].payload.call_id) == ("summary.ready", "r-1")
    with pytest.raises(WebhookRejected):
        parse_revont({"X-Revont-Signature": signature}, body + b" ", [OLD])
    with pytest.raises(WebhookRejected):
        parse_revont({"X-Revont-Signature": signature}, body, [NEW])
