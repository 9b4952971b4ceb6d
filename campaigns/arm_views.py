"""The arm comparison page of a campaign, its CSV, and the running-campaign arm controls
(shift a weight, stop an arm)."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Capability, has_capability, requires
from campaigns import failover, selectors
from campaigns.arms import MAX_WEIGHT, ArmError, arm_change
from campaigns.comparison import DEFAULT_LEVEL, LEVELS, arm_comparison, comparison_rows
from campaigns.models import ACTIVE_CAMPAIGN_STATUSES, Campaign, CampaignArm
from campaigns.views import POLL_SECONDS


def _get(pk: int) -> Campaign:
    try:
        return selectors.campaign_get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


def _arm(campaign: Campaign, arm_id: int) -> CampaignArm:
    arm = campaign.arms.filter(pk=arm_id).first()
    if arm is None:
        raise Http404("No such arm in this campaign.")
    return arm


def _level(request: HttpRequest) -> float:
    """The significance level asked for, if it is one offered; else the default."""
    try:
        level = float(request.GET.get("level", ""))
    except ValueError:
        return DEFAULT_LEVEL
    return level if level in LEVELS else DEFAULT_LEVEL


def _context(request: HttpRequest, campaign: Campaign, **extra: Any) -> dict[str, Any]:
    level = _level(request)
    return {
        "campaign": campaign,
        "comparison": arm_comparison(campaign, level=level),
        "levels": LEVELS,
        "level": level,
        "poll_seconds": POLL_SECONDS if selectors.is_live(campaign) else 0,
        "can_change": has_capability(request.user, Capability.RUN_CAMPAIGNS)
        and campaign.status in ACTIVE_CAMPAIGN_STATUSES,
        "max_weight": MAX_WEIGHT,
        "spills": failover.campaign_spills(campaign),
        "arms_down": failover.arms_down(campaign),
        **extra,
    }


@requires(Capability.VIEW_CAMPAIGNS)
@require_GET
def campaign_arms(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get(pk)
    context = _context(request, campaign)
    if request.htmx and request.htmx.target == "arm-comparison":
        return render(request, "campaigns/campaign_arms.html#comparison", context)
    return render(request, "campaigns/campaign_arms.html", context)


@requires(Capability.VIEW_CAMPAIGNS)
@require_GET
def campaign_arms_csv(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get(pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{pk}-arms.csv"'
    csv.writer(response).writerows(comparison_rows(arm_comparison(campaign, level=_level(request))))
    return response


@requires(Capability.RUN_CAMPAIGNS)
@require_POST
def arm_weight(request: HttpRequest, pk: int, arm_id: int) -> HttpResponse:
    campaign = _get(pk)
    arm = _arm(campaign, arm_id)
    text = request.POST.get("weight", "").strip()
    try:
        if not text.isdigit() or len(text) > 4:
            raise ArmError(f"A weight is a whole number from 1 to {MAX_WEIGHT}.")
        drawn = arm_change(
            campaign_id=campaign.pk, arm_id=arm.pk, weight=int(text), request=request
        )
    except ArmError as exc:
        context = _context(request, _get(pk), error=f"{arm.name}: {exc.message}")
        return render(request, "campaigns/campaign_arms.html", context, status=400)
    messages.success(
        request,
        f"{arm.name} now weighs {text}: {drawn} contacts not dialled yet were drawn again.",
    )
    return redirect("campaigns:arms", pk=pk)


@requires(Capability.RUN_CAMPAIGNS)
@require_http_methods(["GET", "POST"])
def arm_stop(request: HttpRequest, pk: int, arm_id: int) -> HttpResponse:
    """GET: a confirmation page. POST: stop the arm."""
    campaign = _get(pk)
    arm = _arm(campaign, arm_id)
    if request.method == "GET":
        return render(request, "campaigns/arm_stop.html", {"campaign": campaign, "arm": arm})
    try:
        drawn = arm_change(campaign_id=campaign.pk, arm_id=arm.pk, stop=True, request=request)
    except ArmError as exc:
        context = _context(request, _get(pk), error=f"{arm.name}: {exc.message}")
        return render(request, "campaigns/campaign_arms.html", context, status=400)
    messages.success(
        request,
        f"{arm.name} stopped: it dials no more; {drawn} contacts not dialled yet went to the "
        "other arms.",
    )
    return redirect("campaigns:arms", pk=pk)
