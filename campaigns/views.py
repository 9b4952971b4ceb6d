"""Campaign pages: list, create/edit, detail with preview and live counters, transitions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, has_capability, requires
from calls.selectors import post_call_rule_list
from campaigns import failover, selectors, services
from campaigns.forms import DAY_CHOICES, CampaignForm, EntryFilterForm
from campaigns.models import Campaign, CampaignStatus

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
    ids = preview.ids(chosen["group"]) if chosen.get("group") else None
    entries = selectors.dial_entries(campaign=campaign, state=chosen.get("state", ""), ids=ids)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    context = {
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
