"""The webhook endpoint: verify, store raw with a dedupe key, acknowledge, process in a task."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests
from django.urls import reverse

from calls.models import (
    CallEvent,
    CallState,
    PostCallRule,
    PostCallStep,
    WebhookEvent,
    WebhookStatus,
)
from calls.webhooks import webhook_process
from tests.factories import CallFactory, VendorAccountFactory
from vendors import webhooks as vendor_webhooks

SECRET = "whsec-revrag-test"


def revrag_body(vendor_call_id: str, status: str = "ENDED") -> bytes:
    return json.dumps(
        {
            "call_id": vendor_call_id,
            "call_status": status,
            "agent_id": "agent-1",
            "to_number": "+14155550100",
            "summary": "Wants a demo next week.",
            "duration": 42,
            "disconnection_reason": "AGENT_HANGUP",
            "transcription": {"messages": [{"role": "agent", "content": "Hi", "start_time": 0}]},
            "custom_variables": [{"name": "interested", "value": True}],
        }
    ).encode()


def signed_headers(body: bytes, *, event_id: str, secret: str = SECRET, at: int | None = None):
    timestamp = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Webhook-Event": "call.ended",
        "X-Webhook-ID": event_id,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": f"t={timestamp},v1={signature.hexdigest()}",
    }


@pytest.fixture
def account(db):
    account = VendorAccountFactory(kind="revrag")
    account.set_webhook_secret(SECRET)
    account.save()
    return account


def url_for(account) -> str:
    return reverse("webhook", kwargs={"vendor": account.kind, "token": account.webhook_token})


def post(client, account, body, headers):
    return client.generic(
        "POST", url_for(account), body, content_type="application/json", headers=headers
    )


def test_it_stores_verifies_and_applies_a_signed_delivery(client, account):
    call = CallFactory(vendor_account=account, vendor_call_id="vc-9", state=CallState.RUNNING)
    body = revrag_body("vc-9")
    with pytest.MonkeyPatch.context():
        response = post(client, account, body, signed_headers(body, event_id="evt-1"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.body == body.decode()
    assert event.dedupe_key == "evt-1"
    webhook_process(inbox_id=event.pk)
    call.refresh_from_db()
    event.refresh_from_db()
    assert (event.status, event.call_id) == (WebhookStatus.PROCESSED, call.pk)
    assert call.state == CallState.ENDED
    assert call.summary == "Wants a demo next week."


@pytest.mark.parametrize(
    "tamper",
    ["unsigned", "wrong secret", "one byte changed", "301 s old", "301 s ahead"],
)
def test_it_rejects_deliveries_that_do_not_verify_and_stores_nothing(
    client, account, tamper, monkeypatch
):
    body = revrag_body("vc-1")
    now = int(time.time())
    # The verifier reads the clock when the request arrives; frozen at the signing second, so
    # "301 s" is exactly 301 s however long the request takes (1 s of slowness made it 300).
    monkeypatch.setattr(vendor_webhooks, "time", SimpleNamespace(time=lambda: float(now)))
    headers = {
        "unsigned": {"Content-Type": "application/json", "X-Webhook-ID": "e"},
        "wrong secret": signed_headers(body, event_id="e", secret="other"),
        "one byte changed": signed_headers(body, event_id="e"),
        "301 s old": signed_headers(body, event_id="e", at=now - 301),
        "301 s ahead": signed_headers(body, event_id="e", at=now + 301),
    }[tamper]
    sent = body.replace(b"demo", b"demO") if tamper == "one byte changed" else body
    assert post(client, account, sent, headers).status_code == 401
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("offset", [-300, 300])
def test_it_accepts_a_delivery_signed_at_the_edge_of_the_window(
    client, account, offset, monkeypatch
):
    body = revrag_body("vc-edge")
    now = int(time.time())
    monkeypatch.setattr(vendor_webhooks, "time", SimpleNamespace(time=lambda: float(now)))
    headers = signed_headers(body, event_id=f"edge{offset}", at=now + offset)
    assert post(client, account, body, headers).status_code == 200


def test_it_accepts_any_of_two_signatures_when_one_is_valid(client, account):
    body = revrag_body("vc-2")
    headers = signed_headers(body, event_id="evt-2")
    timestamp = headers["X-Webhook-Timestamp"]
    valid = headers["X-Webhook-Signature"].split("v1=")[1]
    headers["X-Webhook-Signature"] = f"t={timestamp},v1={'0' * 64},v1={valid}"
    assert post(client, account, body, headers).status_code == 200


def test_it_answers_404_for_an_unknown_token_and_405_for_get(client, account):
    body = revrag_body("vc-3")
    wrong = reverse("webhook", kwargs={"vendor": "revrag", "token": "nope"})
    headers = signed_headers(body, event_id="e")
    assert client.generic("POST", wrong, body, headers=headers).status_code == 404
    assert client.get(url_for(account)).status_code == 405


def test_it_refuses_an_oversized_body(client, account):
    body = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    assert post(client, account, body, signed_headers(body, event_id="big")).status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_it_keeps_an_event_for_an_unknown_call_and_applies_it_when_the_call_appears(
    client, account
):
    body = revrag_body("vc-later")
    post(client, account, body, signed_headers(body, event_id="evt-early"))
    event = WebhookEvent.objects.get()
    webhook_process(inbox_id=event.pk)
    event.refresh_from_db()
    assert event.status == WebhookStatus.UNMATCHED
    assert event.vendor_call_id == "vc-later"

    from calls.services import call_apply_update
    from calls.vendor_calls import CallUpdate

    call = CallFactory(vendor_account=account)
    with pytest.MonkeyPatch.context():
        call_apply_update(
            call_id=call.pk,
            update=CallUpdate(vendor_call_id="vc-later", status="QUEUED"),
            source="api",
        )
    webhook_process(inbox_id=event.pk)
    call.refresh_from_db()
    assert call.state == CallState.ENDED


def test_it_marks_an_unreadable_body_failed_with_its_error(account):
    from calls.webhooks import webhook_store

    inbox_id = webhook_store(
        account=account, headers=signed_headers(b"not json", event_id="bad"), body=b"not json"
    )
    assert webhook_process(inbox_id=inbox_id) == WebhookStatus.FAILED
    assert "body is not a call status" in WebhookEvent.objects.get().error


@pytest.mark.django_db(transaction=True)
def test_it_stores_one_event_and_one_state_change_for_five_deliveries(live_server):
    account = VendorAccountFactory(kind="revrag")
    account.set_webhook_secret(SECRET)
    account.save()
    call = CallFactory(vendor_account=account, vendor_call_id="vc-dup", state=CallState.RUNNING)
    # A rule whose one step needs no vendor (write-back is skipped for Revrag calls).
    PostCallRule.objects.create(name="Once", vendor_account=account, write_back=True)
    body = revrag_body("vc-dup")
    headers = signed_headers(body, event_id="evt-dup")
    target = live_server.url + url_for(account)

    def deliver(_):
        return requests.post(target, data=body, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(deliver, range(3)))
    statuses += [deliver(0), deliver(0)]
    assert statuses == [200] * 5
    assert WebhookEvent.objects.count() == 1
    call.refresh_from_db()
    assert call.state == CallState.ENDED
    assert CallEvent.objects.filter(call=call, state_to=CallState.ENDED).count() == 1
    assert PostCallStep.objects.filter(call=call).count() == 1


def test_it_sends_one_drain_message_for_a_burst_when_the_cache_is_shared(
    account, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from calls import tasks
    from calls.webhooks import DRAIN_KEY, webhook_drain, webhook_store

    settings.CALLOPS_SHARED_CACHE = True
    cache.delete(DRAIN_KEY)
    CallFactory(vendor_account=account, vendor_call_id="vc-burst", state=CallState.RUNNING)
    sent = []
    monkeypatch.setattr(tasks.drain_webhooks, "delay", lambda: sent.append("drain"))
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            body = revrag_body("vc-burst")
            webhook_store(
                account=account, headers=signed_headers(body, event_id=f"burst-{n}"), body=body
            )
    assert sent == ["drain"]
    assert webhook_drain() == 5
    assert not WebhookEvent.objects.filter(status=WebhookStatus.PENDING).exists()
    # The drain cleared the key: the next delivery asks for a new drain.
    with django_capture_on_commit_callbacks(execute=True):
        body = revrag_body("vc-burst")
        webhook_store(account=account, headers=signed_headers(body, event_id="after"), body=body)
    assert sent == ["drain", "drain"]


def test_it_answers_503_and_stores_nothing_when_the_database_fails(client, account, monkeypatch):
    from django.db import OperationalError

    from calls import webhooks
    from calls.webhook_views import receiving_account

    def database_down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    receiving_account(account.kind, account.webhook_token)  # remembered before the outage
    monkeypatch.setattr(webhooks.connection, "cursor", database_down)
    body = revrag_body("vc-down")
    response = post(client, account, body, signed_headers(body, event_id="evt-down"))
    assert response.status_code == 503
    assert "retry" in response.json()["error"]
    monkeypatch.undo()
    assert WebhookEvent.objects.count() == 0


def test_it_accepts_old_and_new_secrets_during_rotation_and_refuses_the_retired_one(
    client, account, settings
):
    from datetime import timedelta

    from calls.webhook_views import _accounts

    account.rotate_webhook_secret("whsec-new")
    account.save()
    _accounts.clear()
    for secret, event_id in ((SECRET, "old-1"), ("whsec-new", "new-1")):
        body = revrag_body(f"vc-{event_id}")
        headers = signed_headers(body, event_id=event_id, secret=secret)
        assert post(client, account, body, headers).status_code == 200

    account.retire_previous_webhook_secret()
    account.save()
    _accounts.clear()
    body = revrag_body("vc-old-2")
    old = signed_headers(body, event_id="old-2", secret=SECRET)
    assert post(client, account, body, old).status_code == 401

    # Without an explicit retirement the overlap ends by itself.
    account.rotate_webhook_secret("whsec-newer", overlap=timedelta(seconds=-1))
    account.save()
    _accounts.clear()
    stale = signed_headers(body, event_id="new-2", secret="whsec-new")
    assert post(client, account, body, stale).status_code == 401


def test_it_answers_400_for_a_content_length_that_is_not_a_number(client, account):
    body = revrag_body("vc-length")
    headers = signed_headers(body, event_id="length")
    response = client.generic(
        "POST", url_for(account), body, content_type="application/json", headers=headers,
        CONTENT_LENGTH="12abc",
    )  # fmt: skip
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0
