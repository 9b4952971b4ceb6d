from django.urls import include, path

from accounts import api, converters
from dashboard import manager_views, views

# <id:...> path converter, registered before any app's URLs are read.
ID_CONVERTER = converters.IdConverter

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", include("analytics.urls")),
    path("review/", manager_views.review_queue, name="review"),
    path("review/<id:pk>/", manager_views.review_save, name="review_save"),
    path("settings/", include("dashboard.settings_urls")),
    path("alerts/", include("dashboard.alerts_urls")),
    path("calls/", include("calls.urls")),
    path("quality/", include("quality.urls")),
    path("contacts/", include("contacts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("webhooks/", include("calls.webhook_urls")),
    path("api/v1/", include("dashboard.api_urls")),
    path("api/schema/", api.SchemaView.as_view(), name="api_schema"),
    path("api/docs/", views.api_docs, name="api_docs"),
]

handler400 = "dashboard.views.bad_request"
handler404 = "dashboard.views.not_found"
