"""Alerts pages: admins edit rules, managers view and acknowledge, operators see open alerts on
the overview; bad input gets a clear 400 and stores nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from accounts.roles import Capability, denied_reason
from dashboard.alerts_delivery import new_signing_secret
from dashboard.models import Alert, AlertMetric, AlertRule
from tests import factories
from tests.dashboard.test_metrics import scrape, value
from vendors.crypto import decrypt_secret, encrypt_secret

pytestmark = pytest.mark.django_db


def rule_post(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Stuck calls",
        "metric": AlertMetric.STUCK_CALLS,
        "threshold": "3",
        "clear_threshold": "",
        "lookback_minutes": "30",
        "min_calls": "10",
        "severity": "critical",
        "vendor_account": "",
        "campaign": "",
        "renotify_minutes": "15",
        "email_to": "ops@example.com, lead@example.com",
        "webhook_url": "",
        "is_enabled": "on",
        **extra,
    }


def test_it_lets_an_admin_add_a_rule_and_shows_its_signing_secret_once(client_as):
    admin = client_as("admin")
    response = admin.post(
        reverse("alert_rule_new"), rule_post(webhook_url="https://hooks.example.com/callops")
    )

    assert response.status_code == 200
    rule = AlertRule.objects.get()
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert decrypt_secret(rule.webhook_secret_encrypted) == secret
    assert secret not in rule.webhook_secret_encrypted
    assert rule.clear_threshold == 2  # 3 less its default margin of at least 1
    assert rule.email_to == "ops@example.com, lead@example.com"
    event = AuditEvent.objects.get(action=AuditAction.ALERT_RULE_CHANGED)
    assert event.detail["created"] is True and event.actor.username == "adele"
    # The edit page never shows the secret again.
    page = admin.get(reverse("alert_rule_edit", kwargs={"pk": rule.pk})).content.decode()
    assert secret not in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url", "Use an http(s) URL."),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url", "Use an http(s) URL."),
        ({"email_to": "ops@example.com, nobody"}, "email_to", "“nobody” is not an email"),
        ({"clear_threshold": "5"}, "clear_threshold", "must be below the threshold"),
        (
            {"metric": AlertMetric.CONNECT_RATE, "threshold": "40", "clear_threshold": "30"},
            "clear_threshold",
            "must be above the threshold",
        ),
        ({"threshold": "0"}, "threshold", "must be above 0"),
        ({"metric": AlertMetric.VOICEMAIL_RATE, "threshold": "120"}, "threshold", "at most 100"),
        ({"lookback_minutes": "0"}, "lookback_minutes", "greater than or equal to 1"),
    ],
)
def test_it_refuses_bad_rules_with_400_and_stores_nothing(client_as, changes, field, message):
    response = client_as("admin").post(reverse("alert_rule_new"), rule_post(**changes))

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not AlertRule.objects.exists()


def test_it_refuses_a_rule_scoped_to_an_account_and_a_campaign(client_as):
    campaign = factories.CampaignFactory()
    response = client_as("admin").post(
        reverse("alert_rule_new"),
        rule_post(vendor_account=campaign.vendor_account_id, campaign=campaign.pk),
    )
    assert response.status_code == 400
    assert "not both" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_it_ends_the_open_alert_of_a_rule_an_admin_disables(client_as):
    alert = factories.AlertFactory()
    data = rule_post(name=alert.rule.name)
    del data["is_enabled"]
    response = client_as("admin").post(
        reverse("alert_rule_edit", kwargs={"pk": alert.rule.pk}), data
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert not alert.is_open and not alert.rule.is_enabled


def test_it_replaces_the_signing_secret_only_after_confirmation(client_as):
    rule = factories.AlertRuleFactory()
    admin = client_as("admin")
    url = reverse("alert_rule_secret", kwargs={"pk": rule.pk})
    assert "stops at once" in admin.get(url).content.decode()
    rule.refresh_from_db()
    assert rule.webhook_secret_encrypted == ""
    response = admin.post(url)
    rule.refresh_from_db()
    assert decrypt_secret(rule.webhook_secret_encrypted) == response.context["secret"]


def test_it_keeps_rules_to_admins_and_says_who_may(client_as):
    for role in ("manager", "operator"):
        response = client_as(role).post(reverse("alert_rule_new"), rule_post())
        assert response.status_code == 403
        assert denied_reason(Capability.MANAGE_SETTINGS) in response.content.decode()
    assert not AlertRule.objects.exists()


def test_it_lets_a_manager_view_and_acknowledge_an_alert(client_as, role_users):
    alert = factories.AlertFactory(rule__name="Stuck calls on Revrag")
    manager = client_as("manager")
    page = manager.get(reverse("alerts")).content.decode()
    assert "Stuck calls on Revrag" in page and "Acknowledge" in page
    assert "New rule" not in page

    response = manager.post(
        reverse("alert_acknowledge", kwargs={"pk": alert.pk}), {"next": reverse("overview")}
    )

    assert response.status_code == 302 and response["Location"] == reverse("overview")
    alert.refresh_from_db()
    assert alert.acknowledged_by == role_users["manager"]
    overview = manager.get(reverse("overview")).content.decode()
    assert "manuel," in overview and "Acknowledge</button>" not in overview


def test_it_shows_operators_open_alerts_but_not_the_acknowledge_button(client_as):
    alert = factories.AlertFactory(rule__name="Stuck calls on Revrag")
    operator = client_as("operator")

    overview = operator.get(reverse("overview")).content.decode()
    assert "Stuck calls on Revrag" in overview and "Acknowledge</button>" not in overview
    response = operator.post(reverse("alert_acknowledge", kwargs={"pk": alert.pk}))
    assert response.status_code == 403
    assert denied_reason(Capability.ACKNOWLEDGE_ALERTS) in response.content.decode()
    assert Alert.objects.get().acknowledged_at is None
    assert operator.get(reverse("alerts")).status_code == 403


def test_it_refuses_an_offsite_redirect_after_acknowledging(client_as):
    alert = factories.AlertFactory()
    response = client_as("manager").post(
        reverse("alert_acknowledge", kwargs={"pk": alert.pk}), {"next": "https://evil.example"}
    )
    assert response["Location"] == reverse("alerts")


def test_it_lists_resolved_alerts_as_history_with_pages(client_as):
    rule = factories.AlertRuleFactory(name="Vendor failures")
    for _ in range(30):
        factories.AlertFactory(rule=rule, resolved_at=timezone.now())
    manager = client_as("manager")
    first = manager.get(reverse("alerts")).content.decode()
    assert "Page 1 of 2" in first and "No alert is open." in first
    second = manager.get(reverse("alerts") + "?page=2", HTTP_HX_REQUEST="true")
    assert second.content.decode().count("<tr>") == 5 + 1  # 5 alerts and the header row


def test_it_exposes_open_alerts_to_prometheus():
    factories.AlertFactory(rule__severity="critical", rule__metric=AlertMetric.STUCK_CALLS)
    factories.AlertFactory(rule__severity="critical", rule__metric=AlertMetric.STUCK_CALLS)
    factories.AlertFactory(rule__severity="info", rule__metric=AlertMetric.COST_PER_DAY)
    factories.AlertFactory(rule__severity="info", resolved_at=timezone.now())

    samples = scrape()

    assert value(samples, "callops_alerts_open", severity="critical", metric="stuck_calls") == 2
    assert value(samples, "callops_alerts_open", severity="info", metric="cost_per_day") == 1
    assert value(samples, "callops_alerts_open", severity="info", metric="stuck_calls") == 0


def test_it_re_encrypts_signing_secrets_with_the_newest_key(settings):
    secret = new_signing_secret()
    rule = factories.AlertRuleFactory(webhook_secret_encrypted=encrypt_secret(secret))
    factories.AlertRuleFactory(webhook_url="")  # no secret: left alone
    new_key = Fernet.generate_key().decode()
    settings.CALLOPS_ENCRYPTION_KEYS = [new_key, *settings.CALLOPS_ENCRYPTION_KEYS]
    output = io.StringIO()

    call_command("rotate_alert_secrets", stdout=output)

    assert "1 alert rule(s)" in output.getvalue()
    rule.refresh_from_db()
    assert Fernet(new_key.encode()).decrypt(rule.webhook_secret_encrypted.encode()).decode() == (
        secret
    )
    settings.CALLOPS_ENCRYPTION_KEYS = [new_key]
    assert decrypt_secret(rule.webhook_secret_encrypted) == secret
