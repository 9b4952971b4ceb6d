from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from calls.selectors import agent_list, call_list
from dashboard.roles import Capability, requires


@requires(Capability.VIEW_CALLS)
def call_log(request: HttpRequest) -> HttpResponse:
    page = Paginator(call_list(), 50).get_page(request.GET.get("page"))
    return render(request, "calls/call_log.html", {"page": page})


@requires(Capability.VIEW_AGENTS)
def agents(request: HttpRequest) -> HttpResponse:
    return render(request, "calls/agents.html", {"agents": agent_list()})
