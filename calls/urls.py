from django.urls import path

from calls import post_call_views, views

app_name = "calls"

urlpatterns = [
    path("", views.call_log, name="list"),
    path("export.csv", views.call_export, name="export"),
    path("new/", views.call_new, name="new"),
    path("<id:pk>/", views.call_detail, name="detail"),
    path("<id:pk>/recording", views.call_recording, name="recording"),
    path("<id:pk>/end", views.call_end, name="end"),
    path("<id:pk>/transfer", views.call_transfer, name="transfer"),
    path("<id:pk>/handoff", views.call_handoff, name="handoff"),
    path("<id:pk>/steps/<id:step_pk>/retry", post_call_views.step_retry, name="step_retry"),
    path("rules/", post_call_views.rules, name="rules"),
    path("rules/new/", post_call_views.rule_new, name="rule_new"),
    path("rules/<id:pk>/edit", post_call_views.rule_edit, name="rule_edit"),
    path("rules/<id:pk>/delete", post_call_views.rule_delete, name="rule_delete"),
    path("agents/", views.agents, name="agents"),
    path("agents/<id:pk>/", views.agent_detail, name="agent"),
    path("webhooks/", views.webhook_inbox, name="webhook_inbox"),
    path("webhooks/<id:pk>/", views.webhook_event, name="webhook_event"),
    path("webhooks/<id:pk>/replay", views.webhook_replay_view, name="webhook_replay"),
]
