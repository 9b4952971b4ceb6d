from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from contacts.selectors import contact_list
from dashboard.roles import Capability, requires


@requires(Capability.VIEW_CONTACTS)
def contacts(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    page = Paginator(contact_list(search=search), 50).get_page(request.GET.get("page"))
    context = {"page": page, "search": search}
    if request.htmx:
        return render(request, "contacts/contacts.html#results", context)
    return render(request, "contacts/contacts.html", context)
