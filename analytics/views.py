"""The analytics page and its CSV downloads (managers and admins)."""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.roles import Capability, requires
from analytics.figures import GROUPINGS, analytics_params
from analytics.report import CHART_KEYS, analytics_report
from contacts.csv_export import EchoBuffer, inert_cell


@requires(Capability.VIEW_ANALYTICS)
@require_GET
def analytics(request: HttpRequest) -> HttpResponse:
    form, params = analytics_params(request.GET)
    report = analytics_report(params)
    context = {
        "form": form,
        "params": params,
        "groupings": GROUPINGS.items(),
        "charts": report.charts,
        "report": report,
    }
    if request.htmx:
        return render(request, "analytics/analytics.html#report", context)
    return render(request, "analytics/analytics.html", context)


@requires(Capability.VIEW_ANALYTICS)
@require_GET
def analytics_export(request: HttpRequest) -> HttpResponse:
    """One chart's numbers as CSV, for the same range and grouping as the page."""
    key = request.GET.get("chart", "")
    if key not in CHART_KEYS:
        return HttpResponse(
            "Unknown chart: use one of " + ", ".join(CHART_KEYS) + ".",
            status=400,
            content_type="text/plain",
        )
    _form, params = analytics_params(request.GET)
    (chart,) = analytics_report(params, only=key).charts
    writer = csv.writer(EchoBuffer())
    # The columns name groups and outcomes too: written through the same guard as the rows.
    lines = [writer.writerow([inert_cell(cell) for cell in chart.columns])]
    lines += [writer.writerow([inert_cell(cell) for cell in row]) for row in chart.rows]
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    name = f"{key}-{params.grouping}-{params.start.isoformat()}-{params.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
