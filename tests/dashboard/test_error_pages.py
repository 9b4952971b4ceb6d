"""403, 404 and 500 pages sit inside the layout and say plainly what happened."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import path

from accounts.roles import Capability, denied_reason


def test_it_names_the_roles_that_may_open_a_page():
    assert denied_reason(Capability.MANAGE_SETTINGS) == "Only admins can manage settings."
    assert denied_reason(Capability.REVIEW_CALLS) == "Only managers and admins can review calls."
    assert denied_reason(Capability.VIEW_CALLS) == (
        "Only operators, managers and admins can view calls."
    )


def test_it_shows_a_forbidden_page_with_the_navigation_and_the_reason(client_as):
    answer = client_as("operator").get("/settings/")
    page = answer.content.decode()
    assert answer.status_code == 403
    assert "Only admins can manage settings." in page
    assert 'aria-label="Main"' in page  # the navigation the operator may use
    assert 'href="/calls/"' in page


@pytest.mark.django_db
def test_it_gives_the_api_the_same_reason_as_the_pages(client_as):
    denied = client_as("manager").post("/api/v1/contacts/", {"phone": "+14155552671"})
    assert denied.status_code == 403
    assert denied.json()["error"]["message"] == "Only operators and admins can edit contacts."
    audit = client_as("operator").get("/api/v1/audit-events/")
    assert audit.json()["error"]["message"] == denied_reason(Capability.MANAGE_SETTINGS)


def test_it_shows_a_not_found_page_inside_the_layout(client_as):
    answer = client_as("manager").get("/calls/999999999/")
    assert answer.status_code == 404
    page = answer.content.decode()
    assert "Nothing here" in page
    assert 'aria-label="Main"' in page


def test_it_keeps_api_not_found_answers_in_the_api_shape(client_as):
    answer = client_as("manager").get("/api/v1/no-such-thing/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def broken_view(request):
    raise RuntimeError("boom")


urlpatterns = [path("broken/", broken_view)]


@pytest.mark.urls(__name__)
@override_settings(DEBUG=False)
def test_it_shows_a_server_error_page_that_says_what_happened(db):
    client = Client(raise_request_exception=False)
    answer = client.get("/broken/")
    assert answer.status_code == 500
    page = answer.content.decode()
    assert "Something went wrong on our side" in page
    assert "app.css" in page
