"""Campaign pages: list, create/edit, detail with preview and live counters, transitions."""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, has_capability, requires
from calls.callback_selectors import campaign_callbacks
from calls.selectors import post_call_rule_list
from campaigns import compliance_report as compliance_report_rows
from campaigns import failover, selectors, services
from campaigns.forms import DAY_CHOICES, CampaignForm, EntryFilterForm
from campaigns.models import Campaign, CampaignStatus
from contacts.csv_export import EchoBuffer, inert_cell
from contacts.models import ConsentType
from contacts.recording_consent import COUNSEL_NOTE

# How often a running campaign's counters refresh (seconds); the template uses it too.
POLL_SECONDS = 3
DAY_NAMES = dict(DAY_CHOICES)
AUDITED = {"launch": AuditAction.CAMPAIGN_LAUNCHED, "stop": AuditAction.CAMPAIGN_STOPPED}
CONFIRM = {
    "launch": "Launch starts calling the audience now, within its calling windows.",
    "pause": "Pause stops new calls; calls in progress finish.",
    "resume": "Resume dials again where the campaign left off.",
    "stop": "Stop ends the campaign for good: no new call starts once you confirm.",
}


def _get(pk: int) -> Campaign:
    try:
        return selectors.campaign_get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


@requires(Capability.VIEW_CAMPAIGNS)
@require_GET
def campaigns(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.campaign_list_with_progress(), 50).get_page(request.GET.get("page"))
    can_run = has_capability(request.user, Capability.RUN_CAMPAIGNS)
    return render(request, "campaigns/campaigns.html", {"page": page, "can_run": can_run})


# htmx target id -> the region of campaigns/campaign_form.html that answers it.
_FORM_REGIONS = {
    "agent-field": "agent-field",
    "audience-preview": "audience-preview",
    "pick-list": "pick-list",
}


def _save(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    region = _FORM_REGIONS.get(request.htmx.target or "") if request.htmx else None
    if request.method == "POST" and "refresh" in request.POST:
        # The no-JavaScript "Show agents", "Count" and "Find" buttons: the form again, unjudged.
        form = CampaignForm.quiet(request.POST)
    elif request.method == "POST":
        form = CampaignForm(request.POST)
        if form.is_valid():
            contacts = services.audience_contacts(**form.audience_filter())
            try:
                saved = services.campaign_save(
                    campaign=campaign,
                    data=form.campaign_data(),
                    contacts=contacts,
                    created_by=request.user,
                    arms=form.cleaned_data["arms"],
                )
            except services.CampaignError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Campaign {saved.name} saved as a draft.")
                return redirect("campaigns:detail", pk=saved.pk)
    elif region:
        form = CampaignForm.quiet(request.GET)
    else:
        form = CampaignForm.for_campaign(campaign) if campaign else CampaignForm()
    source = request.POST if request.method == "POST" else request.GET
    pick_search = source.get("pick_q", "").replace("\x00", "").strip()[:200]
    context = {
        "form": form,
        "campaign": campaign,
        "audience": selectors.audience_preview(**form.typed_audience_filter()),
        "pick_search": pick_search,
        "pick_candidates": selectors.pick_candidates(
            search=pick_search, picked_ids=form.picked_ids()
        ),
        "picked_ids": set(form.picked_ids()),
    }
    if region:
        return render(request, f"campaigns/campaign_form.html#{region}", context)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "campaigns/campaign_form.html", context, status=status)


@requires(Capability.RUN_CAMPAIGNS)
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@requires(Capability.RUN_CAMPAIGNS)
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get(pk)
    if campaign.status != CampaignStatus.DRAFT:
        messages.error(request, "Only a draft campaign can be edited.")
        return redirect("campaigns:detail", pk=pk)
    return _save(request, campaign)


def _counters_context(campaign: Campaign) -> dict[str, Any]:
    counters = selectors.campaign_counters(campaign)
    return {
        "campaign": campaign,
        "counters": counters,
        "cost": selectors.campaign_cost(campaign),
        "poll_seconds": POLL_SECONDS if selectors.is_live(campaign) else 0,
        "spills": failover.campaign_spills(campaign),
        "arms_down": failover.arms_down(campaign),
    }


@requires(Capability.VIEW_CAMPAIGNS)
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get(pk)
    if request.htmx and request.htmx.target == "campaign-live":
        return render(request, "campaigns/campaign_detail.html#live", _counters_context(campaign))
    filters = EntryFilterForm(request.GET)
    filters.is_valid()
    chosen = {k: v for k, v in filters.cleaned_data.items() if k not in filters.errors}
    preview = selectors.preview_groups(campaign)
    group = chosen.get("group") or ""
    ids = preview.ids(group) if group else None
    entries = selectors.dial_entries(campaign=campaign, state=chosen.get("state", ""), ids=ids)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for entry in page.object_list:
        # Why the calling policy holds a draft's entry back (a launched one has it as its note).
        entry.preview_rule = preview.rules.get(entry.pk, "")
        entry.recording_place = preview.all_party.get(entry.pk, "")
    context = {
        "group_label": selectors.PREVIEW_GROUPS.get(group, ""),
        "required_consent_label": ConsentType(campaign.required_consent_type).label
        if campaign.required_consent_type
        else "",
        "counsel_note": COUNSEL_NOTE,
        **_counters_context(campaign),
        "preview": preview,
        "filters": filters,
        "page": page,
        "actions": [(action, CONFIRM[action]) for action in services.allowed_actions(campaign)]
        if has_capability(request.user, Capability.RUN_CAMPAIGNS)
        else [],
        "schedule_zone": campaign.schedule_time_zone or settings.TIME_ZONE,
        "window_days": [DAY_NAMES[day] for day in campaign.window_days if day in DAY_NAMES],
        "post_call_rules": post_call_rule_list(campaign_id=campaign.pk),
        "can_edit_rules": has_capability(request.user, Capability.MANAGE_POST_CALL_RULES),
        "callbacks": campaign_callbacks(campaign_id=campaign.pk),
        "can_edit_callbacks": has_capability(request.user, Capability.TRIGGER_CALLS),
    }
    if request.htmx and request.htmx.target == "entries":
        return render(request, "campaigns/campaign_detail.html#entries", context)
    return render(request, "campaigns/campaign_detail.html", context)


@requires(Capability.RUN_CAMPAIGNS)
@require_http_methods(["GET", "POST"])
def campaign_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """GET: a confirmation page (works without JavaScript). POST: do it."""
    campaign = _get(pk)
    if action not in services.TRANSITIONS:
        raise Http404("No such action.")
    if request.method == "GET":
        return render(
            request,
            "campaigns/confirm.html",
            {
                "campaign": campaign,
                "action": action,
                "title": f"{action.capitalize()} {campaign.name}?",
                "explanation": CONFIRM[action],
            },
        )
    try:
        services.campaign_transition(campaign_id=pk, action=action)
    except services.CampaignError as exc:
        messages.error(request, exc.message)
    else:
        if action in AUDITED:
            audit_record(
                action=AUDITED[action], request=request, target=f"campaign {pk} {campaign.name}"
            )
        messages.success(request, f"{campaign.name} {services.ACTION_VERBS[action]}.")
    return redirect(reverse("campaigns:detail", kwargs={"pk": pk}))


class ReportRangeForm(forms.Form):
    # The query says ?from=&until= ("from" is a Python keyword): the view maps them.
    first_day = forms.DateField(label="From", required=False)
    last_day = forms.DateField(label="Until", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, last = data.get("first_day"), data.get("last_day")
        if first and last and last < first:
            raise forms.ValidationError("The range must end on or after its first day.")
        return data


# A report covers at most this many days (one request streams it all).
REPORT_MAX_DAYS = 400


@requires(Capability.VIEW_CAMPAIGNS)
@require_GET
def compliance_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign's compliance report as CSV: ?from=YYYY-MM-DD&until=YYYY-MM-DD (days in the
    site's time zone; default from the campaign's creation to today)."""
    campaign = _get(pk)
    form = ReportRangeForm(
        {"first_day": request.GET.get("from", ""), "last_day": request.GET.get("until", "")}
    )
    if not form.is_valid():
        problems = "; ".join(
            f"{'from' if name == 'first_day' else 'until' if name == 'last_day' else 'range'}: "
            + " ".join(errors)
            for name, errors in form.errors.items()
        )
        return HttpResponse(
            f"Cannot make the report: {problems} (dates as YYYY-MM-DD).",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    today = timezone.localdate()
    first = form.cleaned_data["first_day"] or timezone.localdate(campaign.created_at)
    last = form.cleaned_data["last_day"] or today
    if last < first:
        first = last
    if (last - first).days >= REPORT_MAX_DAYS:
        return HttpResponse(
            f"Cannot make the report: at most {REPORT_MAX_DAYS} days at once.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    start, end = compliance_report_rows.report_bounds(first, last)
    writer = csv.writer(EchoBuffer())
    rows = compliance_report_rows.report_rows(campaign, start=start, end=end)
    response = StreamingHttpResponse(
        (writer.writerow([inert_cell(cell) for cell in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="campaign-{campaign.pk}-compliance-{first}-{last}.csv"'
    )
    return response
