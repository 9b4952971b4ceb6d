from django.urls import path

from calls import api

urlpatterns = [
    path("calls/", api.calls, name="api_calls"),
    path("calls/<id:pk>/", api.call_detail, name="api_call"),
    path("agents/", api.agents, name="api_agents"),
    path("webhook-events/", api.webhook_events, name="api_webhook_events"),
    path("webhook-events/<id:pk>/replay", api.webhook_event_replay, name="api_webhook_replay"),
]
