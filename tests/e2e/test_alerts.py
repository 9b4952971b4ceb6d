"""Alerts in a real browser: an admin adds a rule, it opens, a manager acknowledges it from the
overview, an operator sees it there without the button."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from calls.models import Call, CallState
from dashboard import alerts_services
from dashboard.models import Alert, AlertRule
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import CallFactory, VendorAccountFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def settle(page) -> None:
    """No field focused (headless Chromium's click-after-typing quirk) and no htmx in flight."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request')", polling=100, timeout=10_000
    )
    page.wait_for_timeout(300)


def test_it_takes_a_rule_from_the_form_to_an_acknowledged_alert(page, role_users, screenshot):
    account = VendorAccountFactory(name="Revrag main")
    for _ in range(3):
        call = CallFactory(vendor_account=account, state=CallState.RUNNING)
        Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(minutes=50))

    sign_in(page, "adele", PASSWORD)
    page.goto("/alerts/")
    screenshot("alerts-admin-empty")
    page.get_by_role("link", name="New rule").first.click()
    page.locator("#id_name").fill("Stuck calls on Revrag")
    page.locator("#id_metric").select_option("stuck_calls")
    page.locator("#id_threshold").fill("2")
    page.locator("#id_lookback_minutes").fill("30")
    page.locator("#id_vendor_account").select_option(label="Revrag main")
    page.locator("#id_email_to").fill("ops@example.com")
    page.locator("#id_webhook_url").fill("ftp://hooks.example.com/x")
    settle(page)
    page.get_by_role("button", name="Save rule").click()
    assert page.get_by_text("Use an http(s) URL.").is_visible()
    screenshot("alerts-rule-form-error")
    page.locator("#id_webhook_url").fill("")
    settle(page)
    page.get_by_role("button", name="Save rule").click()
    page.wait_for_url("**/alerts/")
    rule = AlertRule.objects.get()
    assert (rule.threshold, rule.clear_threshold, rule.vendor_account) == (2, 1, account)

    alerts_services.alerts_evaluate()
    assert Alert.objects.get().is_open and len(mail.outbox) == 1
    page.goto("/alerts/")
    screenshot("alerts-admin")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "olivia", PASSWORD)
    page.goto("/")
    assert page.locator("#overview-alerts").get_by_text("Stuck calls on Revrag").is_visible()
    assert page.locator("#overview-alerts button").count() == 0
    screenshot("alerts-overview-operator")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "manuel", PASSWORD)
    page.goto("/")
    screenshot("alerts-overview-manager")
    page.locator("#overview-alerts").get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(lambda url: url.endswith("/"))
    assert page.get_by_text("Alert acknowledged").is_visible()
    assert Alert.objects.get().acknowledged_by == role_users["manager"]
    page.goto("/alerts/")
    screenshot("alerts-manager")
