from django.urls import path

from campaigns import arm_views, views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaigns, name="list"),
    path("new", views.campaign_new, name="new"),
    path("<id:pk>/", views.campaign_detail, name="detail"),
    path("<id:pk>/edit", views.campaign_edit, name="edit"),
    path("<id:pk>/launch", views.campaign_action, {"action": "launch"}, name="launch"),
    path("<id:pk>/pause", views.campaign_action, {"action": "pause"}, name="pause"),
    path("<id:pk>/resume", views.campaign_action, {"action": "resume"}, name="resume"),
    path("<id:pk>/stop", views.campaign_action, {"action": "stop"}, name="stop"),
    path("<id:pk>/arms", arm_views.campaign_arms, name="arms"),
    path("<id:pk>/arms.csv", arm_views.campaign_arms_csv, name="arms_csv"),
    path("<id:pk>/arms/<id:arm_id>/weight", arm_views.arm_weight, name="arm_weight"),
    path("<id:pk>/arms/<id:arm_id>/stop", arm_views.arm_stop, name="arm_stop"),
]
