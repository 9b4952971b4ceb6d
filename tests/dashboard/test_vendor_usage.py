"""Usage and cost: the account page's usage panel (callops' records, CallCov's own summary over
real HTTP), the editable price per minute, and the campaign page's estimated cost."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from calls.models import Call, CallState
from dashboard.usage import account_usage, month_start
from tests.factories import (
    CallFactory,
    CampaignFactory,
    PostCallStepFactory,
    VendorAccountFactory,
)
from vendors.models import VendorAccount
from vendors.pricing import estimated_cost
from vendors.services import vendor_client_for

pytestmark = pytest.mark.django_db


def edit_data(account, **changes):
    data = {
        "name": account.name,
        "mode": account.mode,
        "base_url_choice": "custom",
        "custom_base_url": account.base_url,
        "rate_limits": "",
        "price_per_minute": "",
    }
    data.update(changes)
    return data


def test_it_saves_and_clears_the_price_per_minute(client_as):
    account = VendorAccountFactory()
    url = reverse("settings_vendor", kwargs={"pk": account.pk})
    admin = client_as("admin")

    assert "Price per minute (USD)" in admin.get(url).content.decode()
    assert admin.post(url, edit_data(account, price_per_minute="0.0450")).status_code == 302
    account.refresh_from_db()
    assert account.price_per_minute == Decimal("0.0450")
    changed = AuditEvent.objects.filter(detail__account_id=account.pk).latest("at").detail
    assert changed["changed"] == ["price_per_minute"]
    assert 'value="0.0450"' in admin.get(url).content.decode()

    admin.post(url, edit_data(account, price_per_minute=""))
    account.refresh_from_db()
    assert account.price_per_minute is None


def test_it_refuses_a_negative_price_and_keeps_the_stored_one(client_as):
    account = VendorAccountFactory(price_per_minute=Decimal("0.1"))
    response = client_as("admin").post(
        reverse("settings_vendor", kwargs={"pk": account.pk}),
        edit_data(account, price_per_minute="-1"),
    )

    assert "greater than or equal to 0" in response.content.decode()
    account.refresh_from_db()
    assert account.price_per_minute == Decimal("0.1")


def test_it_sets_a_price_when_an_account_is_added(client_as):
    client_as("admin").post(
        reverse("settings_vendor_new"),
        {
            "kind": "revrag",
            "name": "Priced",
            "mode": "test",
            "base_url_choice": "custom",
            "custom_base_url": "http://127.0.0.1:9/revrag",
            "api_key": "key-1234",
            "price_per_minute": "0.12",
        },
    )

    assert VendorAccount.objects.get(name="Priced").price_per_minute == Decimal("0.12")


def test_it_counts_this_months_calls_minutes_and_cost(client_as, settings):
    settings.CALLOPS_CURRENCY = "EUR"
    account = VendorAccountFactory(price_per_minute=Decimal("0.10"))
    for seconds in (90, 30):
        CallFactory(vendor_account=account, state=CallState.ENDED, duration_seconds=seconds)
    CallFactory(vendor_account=account, state=CallState.RUNNING)
    old = CallFactory(vendor_account=account, state=CallState.ENDED, duration_seconds=600)
    Call.objects.filter(pk=old.pk).update(created_at=month_start() - timedelta(seconds=1))
    CallFactory(state=CallState.ENDED, duration_seconds=999)  # another account

    usage = account_usage(account)
    assert (usage.calls, usage.ended_calls, usage.seconds) == (3, 2, 120)
    assert (usage.minutes, usage.estimated_cost) == (Decimal("2.0"), Decimal("0.20"))

    page = client_as("admin").get(reverse("settings_vendor", kwargs={"pk": account.pk}))
    html = page.content.decode()
    assert "<dd data-usage-calls>3</dd>" in html
    assert "<dd data-usage-minutes>2.0</dd>" in html
    assert "<dd data-usage-cost>0.20 EUR</dd>" in html


def test_it_shows_no_cost_without_a_price():
    account = VendorAccountFactory()
    CallFactory(vendor_account=account, state=CallState.ENDED, duration_seconds=60)

    assert account_usage(account).estimated_cost is None
    assert estimated_cost(seconds=0, price_per_minute=Decimal("1")) == Decimal("0.00")


def test_it_shows_callcovs_own_usage_summary(client_as, make_account, sandbox):
    account = make_account("callcov")
    recording = make_account("revrag")
    sandbox.post(
        "script", {"vendor": "revrag", "outcomes": [{"reason": "USER_HANGUP", "duration": 30}]}
    )
    with vendor_client_for(recording) as revrag:
        call_id = revrag.start_call(
            agent_id=revrag.list_agents()[0].id, to_phone_number="+14155550123"
        ).call_id
        deadline = time.monotonic() + 10
        while (status := revrag.get_call_status(call_id)).recording_url is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with vendor_client_for(account) as callcov:
        analysis = callcov.submit_analysis(audio_url=status.recording_url)
        deadline = time.monotonic() + 10
        while callcov.get_analysis(analysis.id).status == "processing":
            assert time.monotonic() < deadline
            time.sleep(0.1)

    admin = client_as("admin")
    page = admin.get(reverse("settings_vendor", kwargs={"pk": account.pk})).content.decode()
    usage_url = reverse("settings_vendor_usage", kwargs={"pk": account.pk})
    assert f'hx-get="{usage_url}"' in page
    assert "places no calls, and no post-call step used it" in page

    partial = admin.get(usage_url, headers={"HX-Request": "true"}).content.decode()
    assert "<dd data-vendor-analyses>1</dd>" in partial
    assert "USD</dd>" in partial
    assert "<h2" not in partial  # only the region
    # Without JavaScript the same URL is the whole page with the figures in it.
    full = admin.get(usage_url).content.decode()
    assert "<dd data-vendor-analyses>1</dd>" in full and "Usage this month" in full


def test_it_shows_the_vendors_error_instead_of_its_usage(client_as, make_account, sandbox):
    account = make_account("callcov", api_key="sk_test_wrong")
    response = client_as("admin").get(
        reverse("settings_vendor_usage", kwargs={"pk": account.pk}),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "CallCov did not give its usage" in response.content.decode()


def test_it_keeps_the_usage_panel_from_non_admins(client_as):
    account = VendorAccountFactory(kind="callcov")
    url = reverse("settings_vendor_usage", kwargs={"pk": account.pk})
    assert client_as("operator").get(url).status_code == 403


def test_it_estimates_a_campaigns_cost_from_its_recorded_minutes(client_as):
    campaign = CampaignFactory(vendor_account__price_per_minute=Decimal("0.0500"))
    for seconds in (120, 45, None):
        CallFactory(
            vendor_account=campaign.vendor_account,
            agent=campaign.agent,
            campaign=campaign,
            state=CallState.ENDED if seconds else CallState.FAILED,
            duration_seconds=seconds,
        )
    CallFactory(vendor_account=campaign.vendor_account, duration_seconds=600)  # not the campaign's

    page = client_as("manager").get(reverse("campaigns:detail", kwargs={"pk": campaign.pk}))

    html = page.content.decode()
    assert "Estimated cost: <strong>0.14 USD</strong>" in html
    assert "(2.8 minutes recorded × 0.0500 USD a minute)" in html


def test_it_says_why_a_campaign_has_no_estimated_cost(client_as):
    campaign = CampaignFactory()
    CallFactory(vendor_account=campaign.vendor_account, campaign=campaign, duration_seconds=60)

    html = client_as("operator").get(reverse("campaigns:detail", kwargs={"pk": campaign.pk}))

    assert "1.0 minutes recorded. No price per minute is set" in html.content.decode()


def test_it_counts_the_post_call_steps_an_account_ran_this_month(client_as):
    step = PostCallStepFactory(status="done")
    PostCallStepFactory(rule=step.rule, call=CallFactory(vendor_account=step.rule.vendor_account))
    account = step.vendor_account

    usage = account_usage(account)
    page = client_as("admin").get(reverse("settings_vendor", kwargs={"pk": account.pk}))

    assert (usage.steps, usage.steps_done) == (2, 1)
    assert "<strong data-usage-steps>2</strong> (1 done)" in page.content.decode()
