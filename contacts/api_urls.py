"""Contacts API, mounted by dashboard/urls.py under api/v1/."""

from django.urls import path

from contacts import api, consent_api, dnc_api

app_name = "contacts_api"

urlpatterns = [
    path("contacts/", api.contacts, name="list"),
    path("contacts/import", api.import_contacts, name="import"),
    path("contacts/lists", api.contact_lists, name="lists"),
    path("contacts/<id:pk>/consents", consent_api.consents, name="consents"),
    path(
        "contacts/<id:pk>/consents/<id:consent_pk>",
        consent_api.consent_delete,
        name="consent_delete",
    ),
    path("do-not-call/", dnc_api.do_not_call, name="do_not_call"),
    path("do-not-call/<id:pk>/remove", dnc_api.do_not_call_remove, name="do_not_call_remove"),
    path("contacts/imports/<id:pk>", api.import_status, name="import_status"),
]
