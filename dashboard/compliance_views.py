"""Settings → Compliance (admins): the calling-hours policy and the frequency caps."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, requires
from contacts import compliance
from contacts.models import CallingHoursRule
from dashboard.compliance_forms import (
    CapsForm,
    DefaultHoursForm,
    OverrideFormSet,
    rule_initial,
    rule_values,
)


def _initial() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    policy = compliance.compliance_policy()
    rules = list(CallingHoursRule.objects.all())
    everywhere = next((rule for rule in rules if rule.place == ""), None)
    caps = {
        "max_attempts_per_day": policy.max_attempts_per_day,
        "max_attempts_per_week": policy.max_attempts_per_week,
        "min_gap_minutes": policy.min_gap_minutes,
    }
    default = rule_initial(everywhere) if everywhere else {}
    overrides = [rule_initial(rule) for rule in rules if rule.place != ""]
    return caps, default, overrides


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def compliance_settings(request: HttpRequest) -> HttpResponse:
    caps_initial, default_initial, overrides_initial = _initial()
    data = request.POST if request.method == "POST" else None
    caps = CapsForm(data, initial=caps_initial, prefix="caps")
    default = DefaultHoursForm(data, initial=default_initial, prefix="default")
    overrides = OverrideFormSet(data, initial=overrides_initial, prefix="rule")
    if request.method == "POST" and all(
        [caps.is_valid(), default.is_valid(), overrides.is_valid()]
    ):
        rules = [rule_values(default.cleaned_data, place="", label="Everywhere else")]
        for form in overrides.forms:
            if not form.has_changed() and not form.initial:
                continue  # an empty row left empty
            if form.cleaned_data.get("DELETE") or not form.cleaned_data.get("place"):
                continue
            rules.append(
                rule_values(
                    form.cleaned_data,
                    place=form.cleaned_data["place"],
                    label=form.cleaned_data.get("label") or "",
                )
            )
        compliance.policy_save(**caps.cleaned_data, rules=rules, user=request.user)
        audit_record(
            action=AuditAction.COMPLIANCE_POLICY_CHANGED,
            request=request,
            target="calling hours and frequency caps",
            detail={**caps.cleaned_data, "places": [rule["place"] or "*" for rule in rules]},
        )
        messages.success(request, "The calling policy is saved; every dial from now on obeys it.")
        return redirect("settings_compliance")
    context = {
        "caps": caps,
        "default": default,
        "overrides": overrides,
        "policy": compliance.compliance_policy(),
    }
    # A POST that comes back here was refused: 400, with each mistake next to its field.
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/settings_compliance.html", context, status=status)


@requires(Capability.MANAGE_SETTINGS)
@require_POST
def compliance_restore_defaults(request: HttpRequest) -> HttpResponse:
    compliance.policy_restore_defaults()
    audit_record(
        action=AuditAction.COMPLIANCE_POLICY_CHANGED,
        request=request,
        target="calling hours and frequency caps",
        detail={"restored": "shipped defaults"},
    )
    messages.success(request, "The shipped calling hours and caps are back. Have them checked.")
    return redirect("settings_compliance")
