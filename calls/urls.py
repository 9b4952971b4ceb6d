from django.urls import path

from calls import callback_views, post_call_views, views, voice_views

app_name = "calls"

urlpatterns = [
    path("", views.call_log, name="list"),
    path("export.csv", views.call_export, name="export"),
    path("outcomes/", views.outcome_help, name="outcomes"),
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
    path("callbacks/", callback_views.callback_queue, name="callbacks"),
    path("callbacks/<id:pk>/", callback_views.callback_edit, name="callback"),
    path("callbacks/<id:pk>/cancel", callback_views.callback_cancel_view, name="callback_cancel"),
    path("agents/", views.agents, name="agents"),
    path("agents/<id:pk>/", views.agent_detail, name="agent"),
    path("agents/new/", voice_views.agent_new, name="agent_new"),
    path("agents/flows/new/", voice_views.flow_new, name="flow_new"),
    path("agents/refresh/", voice_views.voice_refresh, name="voice_refresh"),
    path("agents/speakers/", voice_views.speakers, name="speakers"),
    path("agents/speakers/new/", voice_views.speaker_new, name="speaker_new"),
    path("agents/speakers/<id:pk>/", voice_views.speaker_detail, name="speaker"),
    path("agents/speakers/<id:pk>/samples/", voice_views.speaker_samples, name="speaker_samples"),
    path("agents/speakers/<id:pk>/deploy/", voice_views.speaker_deploy_view, name="speaker_deploy"),
    path("agents/humans/", voice_views.human_agents, name="human_agents"),
    path("webhooks/", views.webhook_inbox, name="webhook_inbox"),
    path("webhooks/<id:pk>/", views.webhook_event, name="webhook_event"),
    path("webhooks/<id:pk>/replay", views.webhook_replay_view, name="webhook_replay"),
]
