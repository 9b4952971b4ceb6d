"""Contacts API, mounted by dashboard/urls.py under api/v1/."""

from django.urls import path

from contacts import api

app_name = "contacts_api"

urlpatterns = [
    path("contacts/", api.contacts, name="list"),
    path("contacts/import", api.import_contacts, name="import"),
    path("contacts/lists", api.contact_lists, name="lists"),
    path("contacts/imports/<id:pk>", api.import_status, name="import_status"),
]
