from django.urls import path

from contacts import consent_views, push_views, views

app_name = "contacts"

urlpatterns = [
    path("", views.contacts, name="list"),
    path("new/", views.contact_create, name="create"),
    path("<id:pk>/", views.contact_detail, name="detail"),
    path("<id:pk>/edit/", views.contact_edit, name="edit"),
    path("<id:pk>/delete/", views.contact_delete, name="delete"),
    path("<id:pk>/lists/<id:list_pk>/remove/", views.contact_list_remove, name="list_remove"),
    path("<id:pk>/consent/new/", consent_views.consent_new, name="consent_new"),
    path("<id:pk>/consent/<id:consent_pk>/", consent_views.consent_edit, name="consent_edit"),
    path(
        "<id:pk>/consent/<id:consent_pk>/delete/",
        consent_views.consent_delete,
        name="consent_delete",
    ),
    path("do-not-call/", views.do_not_call, name="dnc"),
    path("do-not-call/<id:pk>/remove/", views.do_not_call_remove, name="dnc_remove"),
    path("import/", views.contact_import, name="import"),
    path("import/<id:pk>/", views.contact_import_detail, name="import_detail"),
    path("import/<id:pk>/rejected.csv", views.contact_import_rejected, name="import_rejected"),
    path("import/<id:pk>/updated.csv", views.contact_import_updates, name="import_updates"),
    path("push/", push_views.customer_push_new, name="push"),
    path("pushes/", push_views.customer_pushes, name="pushes"),
    path("pushes/<id:pk>/", push_views.customer_push_detail, name="push_detail"),
]
