from django.urls import path

from calls import views

app_name = "calls"

urlpatterns = [
    path("", views.call_log, name="list"),
    path("agents/", views.agents, name="agents"),
]
