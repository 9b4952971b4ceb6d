"""callops' URLs plus a Django admin with the calls registered: bench_call_log.py's peer.

The ModelAdmin is what the Django documentation suggests for a large table: the log's columns,
its filters, the related rows joined (`list_select_related`) and no second COUNT(*) of the whole
table (`show_full_result_count = False`). Its paginator still counts the filtered rows, as every
changelist does: that is the cost a Django user gets.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from calls.models import Call
from dashboard.urls import urlpatterns as callops_urlpatterns


class CallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "to_number",
        "contact",
        "agent",
        "state",
        "common_outcome",
        "vendor_outcome",
        "duration_seconds",
    )
    list_filter = ("common_outcome", "agent")
    list_select_related = ("contact", "agent")
    ordering = ("-created_at", "-id")
    list_per_page = 50
    show_full_result_count = False
    search_fields = ("summary",)


admin.site.register(Call, CallAdmin)


def empty_page(request: HttpRequest) -> HttpResponse:
    """The floor of any signed-in request: callops' middleware, the session and the user, no
    work. What the call log costs beyond it is what its own code and queries cost."""
    return HttpResponse(f"signed in as {request.user.pk}")


def layout_page(request: HttpRequest) -> HttpResponse:
    """The floor of a full page: the layout (navigation, the user's roles) around nothing."""
    return render(request, "base.html")


urlpatterns = [
    path("bench-admin/", admin.site.urls),
    path("bench-floor/empty/", empty_page),
    path("bench-floor/layout/", layout_page),
    *callops_urlpatterns,
]
