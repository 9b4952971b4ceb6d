"""The connection page's "Failover and limits" panel: the circuit breaker and live-call limit of
one vendor connection (admins only). The panel itself is part of the connection page
(dashboard/views.py `vendor_detail`); these views take its two forms."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Capability, requires
from dashboard.forms import VendorLimitsForm
from dashboard.views import _get_account, _vendor_context
from vendors.breaker import breaker_reset
from vendors.services import vendor_limits_set


@requires(Capability.MANAGE_SETTINGS)
@require_POST
def vendor_limits(request: HttpRequest, pk: int) -> HttpResponse:
    account = _get_account(pk)
    form = VendorLimitsForm(request.POST)
    if not form.is_valid():
        context = _vendor_context(request, account, limits_form=form)
        return render(request, "dashboard/settings_vendor.html", context, status=400)
    data = form.cleaned_data
    vendor_limits_set(
        account=account,
        failure_threshold=data["breaker_failure_threshold"],
        cooldown_seconds=data["breaker_cooldown_seconds"],
        max_live_calls=data["max_live_calls"],
        request=request,
    )
    messages.success(request, "Failover and limits saved.")
    return redirect(reverse("settings_vendor", kwargs={"pk": account.pk}) + "#failover")


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def vendor_breaker_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close an open breaker by hand, after a confirmation page."""
    account = _get_account(pk)
    back = reverse("settings_vendor", kwargs={"pk": account.pk}) + "#failover"
    if request.method == "POST":
        if breaker_reset(account.pk, user=request.user, request=request):
            messages.success(request, f"The circuit breaker of {account.name} is closed.")
        else:
            messages.info(request, f"The circuit breaker of {account.name} was already closed.")
        return redirect(back)
    return render(
        request,
        "dashboard/settings_confirm.html",
        {
            "title": f"Close the circuit breaker of {account.name}?",
            "explanation": (
                "Requests to this vendor go through again at once, without waiting for the "
                "probe. If the vendor is still failing, the breaker opens again."
            ),
            "action": reverse("settings_vendor_breaker_close", kwargs={"pk": account.pk}),
            "fields": {},
            "button": "Close the breaker",
            "danger": False,
            "cancel": back,
        },
    )
