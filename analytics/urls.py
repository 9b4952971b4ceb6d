from django.urls import path

from analytics import views

urlpatterns = [
    path("analytics/", views.analytics, name="analytics"),
    path("analytics/export.csv", views.analytics_export, name="analytics_export"),
]
