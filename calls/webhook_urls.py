from django.urls import path

from calls import webhook_views

urlpatterns = [
    path("<str:vendor>/<str:token>/", webhook_views.receive_webhook, name="webhook"),
]
