"""Registering callops' webhook with the voice platform: once, however often it is asked."""

from django.urls import reverse

from accounts.models import AuditEvent


def test_it_registers_the_webhook_once_and_keeps_the_signing_secret(
    client_as, make_account, sandbox
):
    account = make_account("voice_platform")
    admin = client_as("admin")
    url = reverse("settings_vendor_webhooks", kwargs={"pk": account.pk})
    admin.post(url)
    admin.post(url)
    account.refresh_from_db()
    assert account.get_webhook_secret()
    # The sandbox lists webhook ids: one registration, however often callops asked.
    assert len(sandbox.state("voice_platform")["webhooks"]) == 1
    assert AuditEvent.objects.filter(detail__webhook_registered=account.webhook_url).count() == 2


def test_it_explains_that_revrag_webhooks_go_through_support(client_as, make_account, sandbox):
    account = make_account("revrag")
    admin = client_as("admin")
    response = admin.post(
        reverse("settings_vendor_webhooks", kwargs={"pk": account.pk}), follow=True
    )
    assert "does not register webhooks through its API" in response.content.decode()
    page = admin.get(reverse("settings_vendor", kwargs={"pk": account.pk})).content.decode()
    assert "contact@revrag.ai" in page
