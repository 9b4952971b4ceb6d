"""Alerts pages: open alerts, history and rules for managers and admins; rules edited by admins."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Capability, has_capability, requires
from dashboard import alerts_selectors, alerts_services
from dashboard.alerts_forms import AlertRuleForm
from dashboard.alerts_metrics import METRICS
from dashboard.models import AlertMetric, AlertRule

HISTORY_PAGE_SIZE = 25


@requires(Capability.VIEW_ALERTS)
def alerts_page(request: HttpRequest) -> HttpResponse:
    history = Paginator(alerts_selectors.alert_history(), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "open_alerts": alerts_selectors.open_alerts(),
        "history": history,
        "rules": [(rule, METRICS[rule.metric]) for rule in alerts_selectors.alert_rules()],
        "can_acknowledge": has_capability(request.user, Capability.ACKNOWLEDGE_ALERTS),
        "can_edit_rules": has_capability(request.user, Capability.MANAGE_SETTINGS),
    }
    if request.htmx:
        return render(request, "dashboard/alerts.html#history", context)
    return render(request, "dashboard/alerts.html", context)


@requires(Capability.ACKNOWLEDGE_ALERTS)
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    if alerts_services.alert_acknowledge(alert_id=pk, user=request.user):
        messages.success(request, "Alert acknowledged: no more reminders for it.")
    else:
        messages.info(request, "That alert was already acknowledged or has resolved.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("alerts")
    return redirect(target)


def _get_rule(pk: int) -> AlertRule:
    try:
        return alerts_selectors.alert_rule_get(pk=pk)
    except AlertRule.DoesNotExist:
        raise Http404("No such alert rule.") from None


def _rule_form_page(
    request: HttpRequest, form: AlertRuleForm, rule: AlertRule | None
) -> HttpResponse:
    status = 400 if form.is_bound and form.errors else 200
    metric_help = [(metric.value, metric.label, METRICS[metric]) for metric in AlertMetric]
    context = {"form": form, "rule": rule, "metric_help": metric_help}
    return render(request, "dashboard/alert_rule_form.html", context, status=status)


def _secret_page(request: HttpRequest, rule: AlertRule, secret: str) -> HttpResponse:
    return render(request, "dashboard/alert_rule_secret.html", {"rule": rule, "secret": secret})


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def alert_rule_new(request: HttpRequest) -> HttpResponse:
    form = AlertRuleForm(
        request.POST or None,
        initial={"lookback_minutes": 60, "min_calls": 10, "renotify_minutes": 60},
    )
    if request.method == "POST" and form.is_valid():
        rule, secret = alerts_services.alert_rule_save(
            rule=None, data=form.cleaned_data, request=request
        )
        messages.success(request, f"Alert rule “{rule.name}” saved.")
        if secret:
            return _secret_page(request, rule, secret)
        return redirect("alerts")
    return _rule_form_page(request, form, None)


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def alert_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _get_rule(pk)
    form = AlertRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        # The service compares with the stored rule, so give it a fresh copy.
        rule, secret = alerts_services.alert_rule_save(
            rule=_get_rule(pk), data=form.cleaned_data, request=request
        )
        messages.success(request, f"Alert rule “{rule.name}” saved.")
        if secret:
            return _secret_page(request, rule, secret)
        return redirect("alerts")
    return _rule_form_page(request, form, _get_rule(pk))


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def alert_rule_secret(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _get_rule(pk)
    if not rule.webhook_url:
        messages.error(request, "This rule has no webhook URL, so it has no signing secret.")
        return redirect("alert_rule_edit", pk=rule.pk)
    if request.method == "POST":
        return _secret_page(
            request, rule, alerts_services.alert_rule_new_secret(rule=rule, request=request)
        )
    return render(
        request,
        "dashboard/settings_confirm.html",
        {
            "title": f"Replace the signing secret of “{rule.name}”?",
            "explanation": "The current secret stops at once: the receiver must verify with the "
            "new one, shown on the next page only once.",
            "action": reverse("alert_rule_secret", kwargs={"pk": rule.pk}),
            "fields": {},
            "button": "Replace the secret",
            "danger": True,
            "cancel": reverse("alert_rule_edit", kwargs={"pk": rule.pk}),
        },
    )
