from django.urls import path

from campaigns import api

urlpatterns = [
    path("campaigns/", api.campaigns, name="api_campaigns"),
    path("campaigns/<id:pk>/", api.campaign_detail, name="api_campaign"),
    path("campaigns/<id:pk>/launch", api.campaign_launch, name="api_campaign_launch"),
    path("campaigns/<id:pk>/pause", api.campaign_pause, name="api_campaign_pause"),
    path("campaigns/<id:pk>/resume", api.campaign_resume, name="api_campaign_resume"),
    path("campaigns/<id:pk>/stop", api.campaign_stop, name="api_campaign_stop"),
]
