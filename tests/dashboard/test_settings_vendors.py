"""Settings → vendor connections: add, edit, test, rotate the key, disable; keys write-only."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from tests.factories import VendorAccountFactory
from vendors.models import RateBudget, VendorAccount, VendorKind

pytestmark = pytest.mark.django_db

SECRET_KEY = "sk_live_SECRET123456"


def create_payload(**overrides):
    payload = {
        "kind": VendorKind.REVRAG,
        "name": "Revrag production",
        "mode": "live",
        "base_url_choice": "https://api.revrag.ai",
        "custom_base_url": "",
        "api_key": SECRET_KEY,
        "webhook_secret": "whsec_SECRET987654",
        "rate_limits": '{"default": 120}',
    }
    payload.update(overrides)
    return payload


def test_it_adds_a_connection_with_an_encrypted_key_and_audits_it(client_as):
    response = client_as("admin").post(reverse("settings_vendor_new"), create_payload())
    account = VendorAccount.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("settings_vendor", kwargs={"pk": account.pk})
    assert account.base_url == "https://api.revrag.ai"
    assert account.get_api_key() == SECRET_KEY
    assert SECRET_KEY not in account.api_key_encrypted
    assert account.get_webhook_secret() == "whsec_SECRET987654"
    assert account.rate_limits == {"default": 120}
    event = AuditEvent.objects.get(action=AuditAction.VENDOR_KEY_CREATED)
    assert event.actor_label == "adele"
    assert SECRET_KEY not in str(event.detail)


def test_it_takes_a_custom_base_url(client_as):
    client_as("admin").post(
        reverse("settings_vendor_new"),
        create_payload(base_url_choice="custom", custom_base_url="http://127.0.0.1:8765/revrag"),
    )
    assert VendorAccount.objects.get().base_url == "http://127.0.0.1:8765/revrag"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"base_url_choice": "https://api.revont.ai/v1"}, "base_url_choice", "not one of"),
        ({"base_url_choice": "custom"}, "custom_base_url", "Enter the custom base URL"),
        ({"rate_limits": "{nope"}, "rate_limits", "not valid JSON"),
        ({"rate_limits": '{"default": -1}'}, "rate_limits", "requests per minute"),
        ({"rate_limits": "[1]"}, "rate_limits", "JSON object"),
        ({"api_key": "  "}, "api_key", "required"),
    ],
)
def test_it_refuses_a_bad_connection_form(client_as, overrides, field, message):
    response = client_as("admin").post(reverse("settings_vendor_new"), create_payload(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not VendorAccount.objects.exists()


def test_it_never_renders_a_stored_key(client_as):
    account = VendorAccountFactory(api_key=SECRET_KEY)
    account.set_webhook_secret("whsec_SECRET987654")
    account.save()
    admin = client_as("admin")
    for url in (
        reverse("settings_vendors"),
        reverse("settings_vendor", kwargs={"pk": account.pk}),
    ):
        page = admin.get(url).content.decode()
        assert "SECRET" not in page
        assert account.api_key_mask in page


def test_it_shows_the_webhook_url_to_paste_into_the_vendor_console(client_as, settings):
    settings.CALLOPS_PUBLIC_URL = "https://callops.example.com"
    account = VendorAccountFactory(kind=VendorKind.REVONT)
    page = client_as("admin").get(reverse("settings_vendor", kwargs={"pk": account.pk}))
    expected = f"https://callops.example.com/webhooks/revont/{account.webhook_token}/"
    assert expected in page.content.decode()
    assert 'data-copy="webhook-url"' in page.content.decode()


def test_it_edits_a_connection_but_keeps_the_key_and_secret(client_as):
    account = VendorAccountFactory(api_key=SECRET_KEY)
    account.set_webhook_secret("old-secret")
    account.save()
    response = client_as("admin").post(
        reverse("settings_vendor", kwargs={"pk": account.pk}),
        {
            "name": "Renamed",
            "mode": "test",
            "base_url_choice": "https://staging-api.revrag.ai",
            "custom_base_url": "",
            "webhook_secret": "",
            "rate_limits": "",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Renamed"
    assert account.kind == VendorKind.REVRAG
    assert account.base_url == "https://staging-api.revrag.ai"
    assert account.get_api_key() == SECRET_KEY
    assert account.get_webhook_secret() == "old-secret"
    event = AuditEvent.objects.get(action=AuditAction.VENDOR_ACCOUNT_UPDATED)
    assert event.detail["changed"] == ["name", "base_url"]


def test_it_shows_the_vendors_own_error_when_a_test_fails(client_as, make_account):
    account = make_account("revrag", api_key="wrong-key")
    response = client_as("admin").post(
        reverse("settings_vendor_test", kwargs={"pk": account.pk}), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Invalid API key" in body
    assert "<html" not in body  # only the check region
    account.refresh_from_db()
    assert account.last_check_ok is False
    assert account.last_check_message == "Invalid API key"


def test_it_reports_a_working_connection(client_as, make_account):
    account = make_account("revrag")
    response = client_as("admin").post(reverse("settings_vendor_test", kwargs={"pk": account.pk}))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.last_check_ok is True


def test_it_keeps_the_old_key_when_the_new_one_fails(client_as, make_account, sandbox):
    account = make_account("revrag")
    good_key = sandbox.vendors["revrag"].api_key
    response = client_as("admin").post(
        reverse("settings_vendor_rotate", kwargs={"pk": account.pk}),
        {"new_key": "wrong-new-key"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Invalid API key" in body
    assert "current key" in body
    account.refresh_from_db()
    assert account.get_api_key() == good_key
    # The failed trial is not recorded as the stored key's result.
    assert account.last_check_ok is None
    assert not AuditEvent.objects.filter(action=AuditAction.VENDOR_KEY_ROTATED).exists()


def test_it_rotates_to_a_new_key_that_works(client_as, make_account, sandbox):
    account = make_account("revrag", api_key="old-broken-key")
    good_key = sandbox.vendors["revrag"].api_key
    response = client_as("admin").post(
        reverse("settings_vendor_rotate", kwargs={"pk": account.pk}),
        {"new_key": good_key},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("settings_vendor", kwargs={"pk": account.pk})
    account.refresh_from_db()
    assert account.get_api_key() == good_key
    assert account.last_check_ok is True
    event = AuditEvent.objects.get(action=AuditAction.VENDOR_KEY_ROTATED)
    assert event.detail["new_key"] == account.api_key_mask
    assert good_key not in str(event.detail)


def test_it_asks_before_disabling_and_audits_it(client_as):
    account = VendorAccountFactory()
    admin = client_as("admin")
    url = reverse("settings_vendor_active", kwargs={"pk": account.pk})
    confirm = admin.get(url)
    assert confirm.status_code == 200
    assert b"Disable" in confirm.content
    account.refresh_from_db()
    assert account.is_active

    admin.post(url, {"active": "0"})
    account.refresh_from_db()
    assert not account.is_active
    assert AuditEvent.objects.filter(action=AuditAction.VENDOR_ACCOUNT_DISABLED).count() == 1

    admin.post(url, {"active": "1"})
    account.refresh_from_db()
    assert account.is_active
    assert AuditEvent.objects.filter(action=AuditAction.VENDOR_ACCOUNT_ENABLED).count() == 1


def test_it_shows_the_rate_budget_left(client_as):
    account = VendorAccountFactory()
    RateBudget.objects.create(
        account=account,
        group="default",
        window_source="local",
        window_ends_at=time.time() + 30,
        used=10,
    )
    page = client_as("admin").get(reverse("settings_vendors")).content.decode()
    # Revrag's documented 60/min, less the 2 % safety margin, less 10 used.
    assert "49 of 59 left" in page
    assert "none yet" in page  # no successful request recorded for this account


def test_it_escapes_the_vendors_message(client_as):
    account = VendorAccountFactory()
    VendorAccount.objects.filter(pk=account.pk).update(
        last_check_ok=False,
        last_check_message='<img src=x onerror="alert(1)">',
        last_check_at=timezone.now(),
    )
    page = client_as("admin").get(reverse("settings_vendors")).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x" in page
