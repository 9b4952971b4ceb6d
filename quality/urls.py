from django.urls import path

from quality import views

app_name = "quality"

urlpatterns = [
    path("", views.quality, name="quality"),
    path("export.csv", views.quality_export, name="export"),
    path("scorecards/", views.scorecard_list, name="scorecards"),
    path("scorecards/new/", views.scorecard_new, name="scorecard_new"),
    path("scorecards/<id:pk>/", views.scorecard_edit, name="scorecard_edit"),
    path("calls/<id:pk>/score/", views.score_save, name="score_save"),
    path("calibration/", views.calibration_list, name="calibration"),
    path("calibration/<id:pk>/", views.calibration_detail, name="calibration_detail"),
    path("agreement/", views.agreement_page, name="agreement"),
]
