from django.urls import path

from calls import api

urlpatterns = [
    path("calls/", api.calls, name="api_calls"),
    path("calls/<id:pk>/", api.call_detail, name="api_call"),
]
