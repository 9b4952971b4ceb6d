"""Query strings that no database can search with are refused before any view reads them.

PostgreSQL refuses NUL in text, so a `?q=%00` reaching a search would be a 500 on every page
that filters. Forms refuse NUL field by field; query parameters are read by many views
directly, so they are checked once here: a 400 that names the parameter (the API's error shape
under /api/, the layout's 400 page elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

MESSAGE = "The parameter holds a NUL character (\\u0000), which callops does not accept."


def refuse_nul_in_query(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        bad = sorted(
            {name for name, values in request.GET.lists() for value in values if "\x00" in value}
            | {name for name in request.GET if "\x00" in name}
        )
        if not bad:
            return get_response(request)
        fields = {name.replace("\x00", "\\u0000"): [MESSAGE] for name in bad}
        if request.path.startswith("/api/"):
            body = {"error": {"code": "invalid", "message": "The request is not valid."}}
            body["error"]["fields"] = fields
            return JsonResponse(body, status=400)
        return render(request, "400.html", {"fields": fields}, status=400)

    return middleware
