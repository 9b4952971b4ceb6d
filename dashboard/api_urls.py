"""The REST API, version 1: each app contributes its own routes."""

from django.urls import include, path

from accounts import api

urlpatterns = [
    path("", include("calls.api_urls")),
    path("", include("campaigns.api_urls")),
    path("", include("contacts.api_urls")),
    path("me", api.me, name="api_me"),
    path("audit-events/", api.audit_events, name="api_audit_events"),
]
