"""Poison deliveries: one event that cannot be applied must not stop the others, and vendor
text a database cannot hold (lone surrogates, NUL) is stored with U+FFFD instead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from calls import tasks
from calls.models import Call, CallState, WebhookEvent, WebhookStatus
from calls.webhooks import DRAIN_KEY, MAX_WEBHOOK_ATTEMPTS
from tests.calls.test_webhooks import SECRET, post, signed_headers
from tests.factories import CallFactory, VendorAccountFactory

GOOD = b'{"call_id": "%s", "call_status": "ENDED", "summary": "Fine.", "duration": 42}'
# Valid JSON, validly signed, but no database column holds a 1e300-second duration.
POISON = b'{"call_id": "vc-poison", "call_status": "ENDED", "duration": 1e300}'


@pytest.fixture
def account(db):
    account = VendorAccountFactory(kind="revrag")
    account.set_webhook_secret(SECRET)
    account.save()
    return account


@pytest.fixture(params=["embedded", "redis"])
def broker_mode(request, settings):
    """Embedded: one process_webhook message per delivery. Redis (a cache every process
    shares): one drain message per burst, which takes every pending delivery in order."""
    settings.CALLOPS_SHARED_CACHE = request.param == "redis"
    cache.delete(DRAIN_KEY)
    return request.param


def deliver(client, account, body: bytes, event_id: str, capture):
    with capture(execute=True):
        response = post(client, account, body, signed_headers(body, event_id=event_id))
    assert response.status_code == 200
    return WebhookEvent.objects.get(dedupe_key=event_id)


def sweep_a_minute_later() -> None:
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=2))
    tasks.sweep_pending_webhooks()


def test_it_fails_a_poison_event_after_bounded_attempts_and_keeps_the_others_flowing(
    client, account, broker_mode, client_as, django_capture_on_commit_callbacks
):
    for vendor_call_id in ("vc-before", "vc-poison", "vc-after"):
        CallFactory(vendor_account=account, vendor_call_id=vendor_call_id, state=CallState.RUNNING)
    capture = django_capture_on_commit_callbacks

    deliver(client, account, GOOD % b"vc-before", "before", capture)
    poison = deliver(client, account, POISON, "poison", capture)
    deliver(client, account, GOOD % b"vc-after", "after", capture)

    ended = Call.objects.filter(state=CallState.ENDED).values_list("vendor_call_id", flat=True)
    assert sorted(ended) == ["vc-after", "vc-before"]
    poison.refresh_from_db()
    assert (poison.status, poison.attempts) == (WebhookStatus.PENDING, 1)
    assert "Error" in poison.error  # OverflowError on SQLite, DataError on PostgreSQL

    for _ in range(MAX_WEBHOOK_ATTEMPTS - 1):
        sweep_a_minute_later()
    poison.refresh_from_db()
    assert (poison.status, poison.attempts) == (WebhookStatus.FAILED, MAX_WEBHOOK_ATTEMPTS)
    assert f"gave up after {MAX_WEBHOOK_ATTEMPTS} attempts" in poison.error
    sweep_a_minute_later()  # a failed event waits for an admin
    assert WebhookEvent.objects.get(pk=poison.pk).attempts == MAX_WEBHOOK_ATTEMPTS

    inbox = client_as("admin").get(reverse("calls:webhook_inbox") + "?status=failed")
    html = inbox.content.decode()
    assert "Failed (1)" in html
    assert reverse("calls:webhook_replay", kwargs={"pk": poison.pk}) in html
    assert Call.objects.get(vendor_call_id="vc-poison").state == CallState.RUNNING


def test_it_moves_past_an_event_the_database_refuses_even_to_mark_failed(
    client, account, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    from calls import webhooks

    settings.CALLOPS_SHARED_CACHE = True
    cache.delete(DRAIN_KEY)
    for vendor_call_id in ("vc-locked", "vc-next"):
        CallFactory(vendor_account=account, vendor_call_id=vendor_call_id, state=CallState.RUNNING)
    real_process = webhooks.webhook_process

    def locked_for_the_first(*, inbox_id):
        if WebhookEvent.objects.get(pk=inbox_id).dedupe_key == "locked":
            raise OperationalError("database is locked")
        return real_process(inbox_id=inbox_id)

    monkeypatch.setattr(webhooks, "webhook_process", locked_for_the_first)
    body = GOOD % b"vc-locked"
    post(client, account, body, signed_headers(body, event_id="locked"))
    with django_capture_on_commit_callbacks(execute=True):
        body = GOOD % b"vc-next"
        post(client, account, body, signed_headers(body, event_id="next"))

    assert Call.objects.get(vendor_call_id="vc-next").state == CallState.ENDED
    locked = WebhookEvent.objects.get(dedupe_key="locked")
    assert (locked.status, locked.attempts) == (WebhookStatus.PENDING, 1)


@pytest.mark.parametrize(
    ("escaped", "stored"),
    [
        (b"bad \\ud800 summary", "bad \ufffd summary"),
        (b"nul \\u0000 here", "nul \ufffd here"),
        (b"pair \\ud83d\\ude00 kept", "pair \U0001f600 kept"),
    ],
)
def test_it_stores_vendor_text_a_database_cannot_hold_with_the_replacement_character(
    client, account, broker_mode, client_as, django_capture_on_commit_callbacks, escaped, stored
):
    call = CallFactory(vendor_account=account, vendor_call_id="vc-text", state=CallState.RUNNING)
    body = b'{"call_id": "vc-text", "call_status": "ENDED", "summary": "%s", "duration": 5}'
    event = deliver(client, account, body % escaped, "text", django_capture_on_commit_callbacks)

    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == (WebhookStatus.PROCESSED, 1, "")
    call.refresh_from_db()
    assert (call.state, call.summary) == (CallState.ENDED, stored)
    admin = client_as("admin")
    call_page = admin.get(reverse("calls:detail", kwargs={"pk": call.pk}))
    assert call_page.status_code == 200
    assert stored in call_page.content.decode()
    event_page = admin.get(reverse("calls:webhook_event", kwargs={"pk": event.pk}))
    assert event_page.status_code == 200
    assert stored in event_page.content.decode()


def test_it_stores_a_body_holding_a_raw_nul_byte_with_the_replacement_character(
    client, account, client_as, django_capture_on_commit_callbacks
):
    # PostgreSQL text holds no NUL: storing the raw body as it came answered 503 forever.
    call = CallFactory(vendor_account=account, vendor_call_id="vc-nul", state=CallState.RUNNING)
    body = b'{"call_id": "vc-nul", "call_status": "ENDED", "summary": "a\x00b"}'
    event = deliver(client, account, body, "nul-byte", django_capture_on_commit_callbacks)

    event.refresh_from_db()
    assert event.body == body.decode().replace("\x00", "\ufffd")
    assert event.status == WebhookStatus.PROCESSED
    call.refresh_from_db()
    assert call.summary == "a\ufffdb"
    page = client_as("admin").get(reverse("calls:webhook_event", kwargs={"pk": event.pk}))
    assert page.status_code == 200
