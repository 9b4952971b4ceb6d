from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.audit import audit_record
from dashboard.models import AuditAction, AuditEvent
from dashboard.roles import Capability, public, requires
from dashboard.selectors import calls_by_state_and_outcome, overview_counts
from vendors.models import VendorAccount


@public
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect("overview")
    form = AuthenticationForm(request, data=request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            login(request, form.get_user())
            audit_record(action=AuditAction.LOGIN_SUCCEEDED, request=request)
            target = request.POST.get("next") or request.GET.get("next") or ""
            if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
                return redirect(target)
            return redirect("overview")
        audit_record(
            action=AuditAction.LOGIN_FAILED,
            request=request,
            detail={"username": request.POST.get("username", "")[:150]},
        )
    return render(request, "registration/login.html", {"form": form})


@public
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(action=AuditAction.LOGOUT, request=request)
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("login")


@requires(Capability.VIEW_OVERVIEW)
def overview(request: HttpRequest) -> HttpResponse:
    context = {"counts": overview_counts()}
    if request.htmx:
        return render(request, "dashboard/overview.html#counts", context)
    return render(request, "dashboard/overview.html", context)


@requires(Capability.VIEW_ANALYTICS)
def analytics(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=7)
    rows = calls_by_state_and_outcome(since=since)
    return render(request, "dashboard/analytics.html", {"rows": rows, "since": since})


@requires(Capability.MANAGE_SETTINGS)
def settings_page(request: HttpRequest) -> HttpResponse:
    users = get_user_model().objects.prefetch_related("groups").order_by("username")
    context = {
        "vendor_accounts": VendorAccount.objects.all(),
        "users": users,
        "audit_events": AuditEvent.objects.select_related("actor")[:50],
    }
    return render(request, "dashboard/settings.html", context)
