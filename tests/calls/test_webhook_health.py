"""Webhook health per vendor account: deliveries, delay, duplicates, refusals, failures, and the
overview's warning when an account's webhooks go quiet while its calls are live."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call, WebhookEvent, WebhookStatus
from calls.webhook_health import quiet_webhook_accounts, webhook_health
from tests.calls.test_webhooks import account, post, revrag_body, signed_headers  # noqa: F401
from tests.factories import CallFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db


def test_it_counts_deliveries_duplicates_refusals_and_measures_the_delay(
    client,
    client_as,
    account,  # noqa: F811
):
    now = int(time.time())
    for n, late in enumerate([2, 4, 6, 8, 40]):
        body = revrag_body(f"call-{n}")
        headers = signed_headers(body, event_id=f"evt-{n}", at=now - late)
        assert post(client, account, body, headers).status_code == 200
    again = revrag_body("call-0")
    post(client, account, again, signed_headers(again, event_id="evt-0", at=now - 2))
    post(client, account, again, signed_headers(again, event_id="evt-x", secret="wrong"))
    WebhookEvent.objects.filter(dedupe_key="evt-4").update(status=WebhookStatus.FAILED)
    # An old delivery is outside the day measured.
    old = WebhookEvent.objects.get(dedupe_key="evt-3")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=2))

    health = webhook_health(account=account)
    assert (health.last_day, health.last_hour) == (4, 4)
    assert (health.duplicates, health.rejected, health.failed) == (1, 1, 1)
    assert health.duplicate_percent == "20.0"
    # Signed 2, 4, 6 and 40 s before they were stored (to the second): median 5, p95 near 40.
    assert health.delay_measured == 4
    assert 5 <= health.delay_median <= 6.5 and 33 <= health.delay_p95 <= 41.5

    answer = client_as("admin").get(f"/settings/vendors/{account.pk}/")
    assert answer.status_code == 200, answer
    page = answer.content.decode()
    assert "Webhooks, last 24 hours" in page and "Refused signatures" in page
    assert 'data-webhook-duplicates>1 <span class="muted">(20.0 %' in page


def test_it_flags_an_account_whose_webhooks_went_quiet_while_calls_are_live(client_as):
    quiet_account = VendorAccountFactory(name="Revrag quiet")
    busy_account = VendorAccountFactory(name="Revrag busy")
    long_ago = timezone.now() - timedelta(minutes=40)
    for vendor_account in (quiet_account, busy_account):
        call = CallFactory(vendor_account=vendor_account, state="running")
        Call.objects.filter(pk=call.pk).update(created_at=long_ago)
    WebhookEvent.objects.create(vendor_account=busy_account, dedupe_key="a", body="{}")
    # A call placed a minute ago is not a reason to expect a webhook yet.
    CallFactory(vendor_account=VendorAccountFactory(name="Revrag new"), state="running")

    flagged = quiet_webhook_accounts()
    assert [(q.account.name, q.live_calls, q.last_delivery_at) for q in flagged] == [
        ("Revrag quiet", 1, None)
    ]
    overview = client_as("operator").get("/").content.decode()
    assert "No webhook from <strong>Revrag quiet</strong> yet while 1 of its call is live" in (
        overview
    )
    assert "Check the connection" not in overview  # operators cannot open settings
    assert "Check the connection" in client_as("admin").get("/").content.decode()
