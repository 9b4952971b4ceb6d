"""The project's URLs plus the contacts API, as dashboard/urls.py will mount it."""

from django.urls import include, path

from dashboard.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("api/v1/", include("contacts.api_urls")),
]
