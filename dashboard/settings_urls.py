"""Settings pages (admins only), mounted at settings/ by dashboard/urls.py. No namespace: the
landing page keeps the name `settings` that the navigation uses."""

from django.urls import path

from dashboard import breaker_views, compliance_views, views

urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("vendors/", views.vendor_list, name="settings_vendors"),
    path("vendors/new/", views.vendor_create, name="settings_vendor_new"),
    path("vendors/<id:pk>/", views.vendor_detail, name="settings_vendor"),
    path("vendors/<id:pk>/test/", views.vendor_test, name="settings_vendor_test"),
    path("vendors/<id:pk>/usage/", views.vendor_usage_view, name="settings_vendor_usage"),
    path("vendors/<id:pk>/webhooks/", views.vendor_webhooks, name="settings_vendor_webhooks"),
    path(
        "vendors/<id:pk>/webhook-secret/retire/",
        views.vendor_webhook_secret_retire,
        name="settings_vendor_retire_secret",
    ),
    path("vendors/<id:pk>/rotate/", views.vendor_rotate, name="settings_vendor_rotate"),
    path("vendors/<id:pk>/active/", views.vendor_active, name="settings_vendor_active"),
    path("vendors/<id:pk>/limits/", breaker_views.vendor_limits, name="settings_vendor_limits"),
    path(
        "vendors/<id:pk>/breaker/close/",
        breaker_views.vendor_breaker_close,
        name="settings_vendor_breaker_close",
    ),
    path("users/", views.user_list, name="settings_users"),
    path("users/new/", views.user_create, name="settings_user_new"),
    path("users/<id:pk>/", views.user_detail, name="settings_user"),
    path("users/<id:pk>/active/", views.user_active, name="settings_user_active"),
    path("tokens/", views.token_list, name="settings_tokens"),
    path("tokens/new/", views.token_create, name="settings_token_new"),
    path("tokens/<id:pk>/revoke/", views.token_revoke, name="settings_token_revoke"),
    path("audit/", views.audit_log, name="settings_audit"),
    path("compliance/", compliance_views.compliance_settings, name="settings_compliance"),
    path(
        "compliance/defaults/",
        compliance_views.compliance_restore_defaults,
        name="settings_compliance_defaults",
    ),
]
