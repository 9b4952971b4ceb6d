"""Alerts pages, mounted at alerts/ by dashboard/urls.py."""

from django.urls import path

from dashboard import alerts_views

urlpatterns = [
    path("", alerts_views.alerts_page, name="alerts"),
    path("<id:pk>/acknowledge/", alerts_views.alert_acknowledge, name="alert_acknowledge"),
    path("rules/new/", alerts_views.alert_rule_new, name="alert_rule_new"),
    path("rules/<id:pk>/", alerts_views.alert_rule_edit, name="alert_rule_edit"),
    path("rules/<id:pk>/secret/", alerts_views.alert_rule_secret, name="alert_rule_secret"),
]
