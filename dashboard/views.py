from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found
from django_htmx.http import HttpResponseClientRedirect

from accounts import selectors as account_selectors
from accounts.audit import audit_record
from accounts.json_input import RequestBodyTooLarge
from accounts.models import ApiToken, AuditAction, AuditEvent
from accounts.roles import Capability, has_capability, public, requires
from calls import governor
from calls.webhook_health import quiet_webhook_accounts, webhook_health
from dashboard import selectors, services
from dashboard.forms import (
    ApiTokenForm,
    AuditFilterForm,
    RotateKeyForm,
    UserCreateForm,
    UserRoleForm,
    VendorAccountForm,
    VendorLimitsForm,
)
from dashboard.overview_charts import overview_charts
from dashboard.selectors import overview_counts
from dashboard.usage import account_usage, vendor_usage
from vendors.breaker import breaker_history, open_breakers, state_of
from vendors.models import DOCUMENTED_BASE_URLS, VendorAccount, VendorKind


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
    context = {
        "counts": overview_counts(),
        "charts": overview_charts(),
        "quiet_webhooks": quiet_webhook_accounts(),
        "open_breakers": open_breakers(),
        "can_manage_settings": has_capability(request.user, Capability.MANAGE_SETTINGS),
    }
    if request.htmx:
        return render(request, "dashboard/overview.html#counts", context)
    return render(request, "dashboard/overview.html", context)


# ================================================================================== settings
# Every settings page is for admins only (MANAGE_SETTINGS).


@requires(Capability.MANAGE_SETTINGS)
def settings_page(request: HttpRequest) -> HttpResponse:
    accounts = VendorAccount.objects.all()
    context = {
        "vendor_count": accounts.count(),
        "vendor_failing": accounts.filter(is_active=True, last_check_ok=False).count(),
        "user_count": get_user_model().objects.filter(is_active=True).count(),
        "token_count": ApiToken.objects.filter(revoked_at__isnull=True).count(),
        "latest_events": AuditEvent.objects.all()[:5],
    }
    return render(request, "dashboard/settings.html", context)


# --------------------------------------------------------------------------- vendor connections


def _get_account(pk: int) -> VendorAccount:
    try:
        return selectors.vendor_account_get(pk=pk)
    except VendorAccount.DoesNotExist:
        raise Http404("No such vendor connection.") from None


@requires(Capability.MANAGE_SETTINGS)
def vendor_list(request: HttpRequest) -> HttpResponse:
    context = {"rows": selectors.vendor_accounts_with_health()}
    return render(request, "dashboard/settings_vendors.html", context)


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def vendor_create(request: HttpRequest) -> HttpResponse:
    form = VendorAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = services.vendor_account_create(
            kind=data["kind"],
            name=data["name"],
            base_url=data["base_url"],
            mode=data["mode"],
            api_key=data["api_key"],
            webhook_secret=data["webhook_secret"],
            rate_limits=data["rate_limits"],
            price_per_minute=data["price_per_minute"],
            request=request,
        )
        messages.success(request, f"Vendor connection “{account.name}” added. Test it below.")
        if account.kind == VendorKind.VOICE_PLATFORM:
            _register_webhooks(request, account)
        return redirect("settings_vendor", pk=account.pk)
    context = {"form": form, "documented_urls": DOCUMENTED_BASE_URLS}
    return render(request, "dashboard/settings_vendor_form.html", context)


def _vendor_context(request: HttpRequest, account: VendorAccount, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "account": account,
        "health": selectors.vendor_health(account),
        "webhook_url": account.webhook_url,
        "form": VendorAccountForm(account=account),
        "rotate_form": RotateKeyForm(),
        "check": None,
        "rotate_result": None,
        "usage": account_usage(account),
        "webhooks": webhook_health(account=account),
        # CallCov's own summary is read from the vendor by a second request (vendor_usage_view).
        "vendor_usage": None,
        # The "Failover and limits" panel (dashboard/breaker_views.py takes its forms).
        "breaker": state_of(account.pk),
        "breaker_history": breaker_history(account.pk),
        "live_limits": governor.limits_of(account),
        "limits_form": VendorLimitsForm(
            initial={
                "breaker_failure_threshold": account.breaker_failure_threshold,
                "breaker_cooldown_seconds": account.breaker_cooldown_seconds,
                "max_live_calls": account.max_live_calls,
            }
        ),
    }
    context.update(extra)
    return context


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def vendor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = _get_account(pk)
    form = VendorAccountForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.vendor_account_update(
            account=account,
            name=data["name"],
            base_url=data["base_url"],
            mode=data["mode"],
            rate_limits=data["rate_limits"],
            webhook_secret=form.webhook_secret_change,
            price_per_minute=data["price_per_minute"],
            request=request,
        )
        messages.success(request, "Vendor connection saved.")
        return redirect("settings_vendor", pk=account.pk)
    return render(
        request, "dashboard/settings_vendor.html", _vendor_context(request, account, form=form)
    )


def _register_webhooks(request: HttpRequest, account: VendorAccount) -> None:
    try:
        message = services.vendor_webhooks_register(account=account, request=request)
    except services.SettingsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, message)


@requires(Capability.MANAGE_SETTINGS)
@require_POST
def vendor_webhook_secret_retire(request: HttpRequest, pk: int) -> HttpResponse:
    services.vendor_webhook_secret_retire(account=_get_account(pk), request=request)
    messages.success(request, "Deliveries signed with the previous webhook secret are now refused.")
    return redirect("settings_vendor", pk=pk)


@requires(Capability.MANAGE_SETTINGS)
@require_POST
def vendor_webhooks(request: HttpRequest, pk: int) -> HttpResponse:
    """Register (again) callops' webhook with the vendor; the vendor keeps one per URL."""
    _register_webhooks(request, _get_account(pk))
    return redirect("settings_vendor", pk=pk)


@requires(Capability.MANAGE_SETTINGS)
@require_GET
def vendor_usage_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The vendor's own usage summary (CallCov), loaded into the account page by htmx; without
    JavaScript, the whole page with it. A vendor error shows as a message, not an error page."""
    account = _get_account(pk)
    context = _vendor_context(request, account, vendor_usage=vendor_usage(account))
    template = "dashboard/settings_vendor.html"
    return render(request, f"{template}#vendor-usage" if request.htmx else template, context)


@requires(Capability.MANAGE_SETTINGS)
@require_POST
def vendor_test(request: HttpRequest, pk: int) -> HttpResponse:
    account = _get_account(pk)
    check = services.vendor_connection_test(account=account)
    if request.htmx:
        context = _vendor_context(request, account, check=check)
        return render(request, "dashboard/settings_vendor.html#check", context)
    if check.ok:
        messages.success(request, f"{account.name}: {check.message}")
    else:
        messages.error(request, f"{account.name}: the vendor says “{check.message}”")
    return redirect("settings_vendor", pk=account.pk)


@requires(Capability.MANAGE_SETTINGS)
@require_POST
def vendor_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    account = _get_account(pk)
    rotate_form = RotateKeyForm(request.POST)
    result = None
    if rotate_form.is_valid():
        result = services.vendor_key_rotate(
            account=account, new_key=rotate_form.cleaned_data["new_key"], request=request
        )
        if result.ok:
            messages.success(
                request, f"Key rotated: {account.name} now uses {account.api_key_mask}."
            )
            url = reverse("settings_vendor", kwargs={"pk": account.pk})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        rotate_form = RotateKeyForm()
    account = _get_account(pk)
    context = _vendor_context(request, account, rotate_form=rotate_form, rotate_result=result)
    template = "dashboard/settings_vendor.html"
    return render(request, f"{template}#rotate" if request.htmx else template, context)


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def vendor_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Disable (after a confirmation page) or enable a vendor connection."""
    account = _get_account(pk)
    if request.method == "POST":
        active = request.POST.get("active") == "1"
        services.vendor_account_set_active(account=account, active=active, request=request)
        messages.success(request, f"{account.name} is {'enabled' if active else 'disabled'}.")
        return redirect("settings_vendor", pk=account.pk)
    return render(
        request,
        "dashboard/settings_confirm.html",
        {
            "title": f"{'Disable' if account.is_active else 'Enable'} {account.name}?",
            "explanation": (
                "No call, sync or follow-up will use this connection until it is enabled again. "
                "Its key is kept."
                if account.is_active
                else "Calls, syncs and follow-ups may use this connection again."
            ),
            "action": reverse("settings_vendor_active", kwargs={"pk": account.pk}),
            "fields": {"active": "0" if account.is_active else "1"},
            "button": "Disable" if account.is_active else "Enable",
            "danger": account.is_active,
            "cancel": reverse("settings_vendor", kwargs={"pk": account.pk}),
        },
    )


# ---------------------------------------------------------------------------------------- users


def _get_user(pk: int) -> Any:
    try:
        return selectors.user_get(pk=pk)
    except get_user_model().DoesNotExist:
        raise Http404("No such user.") from None


@requires(Capability.MANAGE_SETTINGS)
def user_list(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/settings_users.html", {"rows": selectors.user_list()})


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = services.user_create(
            username=data["username"],
            email=data["email"],
            role=data["role"],
            password=data["password1"],
            request=request,
        )
        messages.success(request, f"{user.username} can now sign in as {data['role'].value}.")
        return redirect("settings_users")
    return render(request, "dashboard/settings_user_form.html", {"form": form})


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = _get_user(pk)
    role = selectors.primary_role_of(person)
    form = UserRoleForm(request.POST or None, initial={"role": role.value if role else None})
    if request.method == "POST" and form.is_valid():
        try:
            services.user_set_role(user=person, role=form.cleaned_data["role"], request=request)
        except services.SettingsError as error:
            form.add_error("role", str(error))
        else:
            messages.success(
                request, f"{person.username} is now {form.cleaned_data['role'].value}."
            )
            return redirect("settings_user", pk=person.pk)
    context = {"person": person, "role": role, "form": form}
    return render(request, "dashboard/settings_user.html", context)


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate (after a confirmation page) or reactivate a user."""
    person = _get_user(pk)
    error = None
    if request.method == "POST":
        active = request.POST.get("active") == "1"
        try:
            services.user_set_active(user=person, active=active, request=request)
        except services.SettingsError as exc:
            error = str(exc)
        else:
            messages.success(
                request, f"{person.username} is {'active again' if active else 'deactivated'}."
            )
            return redirect("settings_user", pk=person.pk)
    return render(
        request,
        "dashboard/settings_confirm.html",
        {
            "title": f"{'Deactivate' if person.is_active else 'Reactivate'} {person.username}?",
            "explanation": (
                "They can no longer sign in; what they did stays in the audit log."
                if person.is_active
                else "They can sign in again with their role and password."
            ),
            "error": error,
            "action": reverse("settings_user_active", kwargs={"pk": person.pk}),
            "fields": {"active": "0" if person.is_active else "1"},
            "button": "Deactivate" if person.is_active else "Reactivate",
            "danger": person.is_active,
            "cancel": reverse("settings_user", kwargs={"pk": person.pk}),
        },
        status=400 if error else 200,
    )


# ----------------------------------------------------------------------------------- API tokens


@requires(Capability.MANAGE_SETTINGS)
def token_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "dashboard/settings_tokens.html", {"tokens": account_selectors.api_token_list()}
    )


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = services.api_token_create(
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            created_by=request.user,
            expires_at=form.expires_at,
            request=request,
        )
        # Rendered, not redirected: the plaintext exists only in this response.
        response = render(
            request,
            "dashboard/settings_token_created.html",
            {"token": created.token, "plaintext": created.plaintext},
        )
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "dashboard/settings_token_form.html", {"form": form})


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        token = ApiToken.objects.get(pk=pk)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    if request.method == "POST":
        services.api_token_revoke(token=token, request=request)
        messages.success(request, f"Token “{token.name}” is revoked.")
        return redirect("settings_tokens")
    return render(
        request,
        "dashboard/settings_confirm.html",
        {
            "title": f"Revoke the token “{token.name}”?",
            "explanation": (
                f"Requests with {token.prefix}… are refused from now on. This cannot be undone."
            ),
            "action": reverse("settings_token_revoke", kwargs={"pk": token.pk}),
            "fields": {},
            "button": "Revoke",
            "danger": True,
            "cancel": reverse("settings_tokens"),
        },
    )


# ------------------------------------------------------------------------------------ audit log

AUDIT_PAGE_SIZE = 50


@requires(Capability.MANAGE_SETTINGS)
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = account_selectors.audit_event_list(**form.filters())
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    if request.htmx:
        return render(request, "dashboard/settings_audit.html#events", context)
    return render(request, "dashboard/settings_audit.html", context)


# ------------------------------------------------------------------------------------- API docs


@requires(Capability.VIEW_OVERVIEW)
def api_docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI from drf-spectacular-sidecar's files; its start-up script is static/js."""
    return render(request, "dashboard/api_docs.html")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404s under /api/ answer in the API's error shape; pages keep Django's template."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": "No such API endpoint."}}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 that says so (Django's default: 400)."""
    if not isinstance(exception, RequestDataTooBig):
        return default_bad_request(request, exception)
    if request.path.startswith("/api/"):
        error = RequestBodyTooLarge()
        body = {"error": {"code": error.default_code, "message": str(error.detail)}}
        return JsonResponse(body, status=413)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    page = loader.render_to_string("413.html", {"limit_bytes": limit})
    return HttpResponse(page, status=413)
