"""The Call button on contacts: operators and admins, a link to the form, the modal with htmx."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ContactFactory, DoNotCallEntryFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def call_link(contact) -> str:
    return f'href="{reverse("calls:new")}?contact={contact.pk}"'


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_it_shows_a_call_button_on_each_row_and_on_the_contacts_page(client_as, role):
    ada = ContactFactory(name="Ada Lovelace")
    bob = ContactFactory(name="Bob Stone")
    client = client_as(role)
    listing = client.get(reverse("contacts:list")).content.decode()
    assert call_link(ada) in listing
    assert call_link(bob) in listing
    assert 'aria-label="Call Ada Lovelace"' in listing
    detail = client.get(reverse("contacts:detail", kwargs={"pk": ada.pk})).content.decode()
    assert call_link(ada) in detail


def test_it_hides_the_call_button_from_a_manager(client_as):
    ada = ContactFactory(name="Ada Lovelace")
    client = client_as("manager")
    assert call_link(ada) not in client.get(reverse("contacts:list")).content.decode()
    detail = client.get(reverse("contacts:detail", kwargs={"pk": ada.pk})).content.decode()
    assert call_link(ada) not in detail


def test_it_offers_no_call_to_a_number_on_the_do_not_call_list(client_as):
    ada = ContactFactory(name="Ada Lovelace")
    DoNotCallEntryFactory(phone_e164=ada.phone_e164)
    client = client_as("operator")
    assert call_link(ada) not in client.get(reverse("contacts:list")).content.decode()
    detail = client.get(reverse("contacts:detail", kwargs={"pk": ada.pk})).content.decode()
    assert call_link(ada) not in detail


def test_it_opens_the_new_call_page_with_the_contact_chosen_without_javascript(client_as):
    ContactFactory(name="Aaron First")
    zed = ContactFactory(name="Zed Last")
    response = client_as("operator").get(reverse("calls:new"), {"contact": zed.pk})
    assert response.status_code == 200
    assert f'<option value="{zed.pk}" selected>' in response.content.decode()


def test_it_opens_the_modal_with_the_contact_chosen_for_htmx(client_as):
    zed = ContactFactory(name="Zed Last")
    response = client_as("operator").get(reverse("calls:new"), {"contact": zed.pk}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith("<dialog")
    assert f'<option value="{zed.pk}" selected>' in html
