from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.selectors import campaign_list
from dashboard.roles import Capability, requires


@requires(Capability.VIEW_CAMPAIGNS)
def campaigns(request: HttpRequest) -> HttpResponse:
    page = Paginator(campaign_list(), 50).get_page(request.GET.get("page"))
    return render(request, "campaigns/campaigns.html", {"page": page})
