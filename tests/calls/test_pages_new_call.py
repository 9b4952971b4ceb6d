"""The new-call form: who may use it, agents per account, the service's messages on fields."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import Call
from tests.factories import (
    AgentFactory,
    ContactFactory,
    DoNotCallEntryFactory,
    VendorAccountFactory,
)
from vendors.models import VendorKind

pytestmark = pytest.mark.django_db

NEW = reverse("calls:new")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def agent():
    return AgentFactory(name="Sales agent")


def post_data(chosen, **extra) -> dict:
    data = {
        "vendor_account": chosen.vendor_account_id,
        "agent": chosen.pk,
        "to_number": "+1 415 555 0100",
        "var_key": ["name", "", ""],
        "var_value": ["Ada", "", ""],
        "meta_key": ["crm_id"],
        "meta_value": ["A-1"],
    }
    data.update(extra)
    return data


def test_it_lets_an_operator_open_the_form(client_as, agent):
    response = client_as("operator").get(NEW)
    assert response.status_code == 200
    page = response.content.decode()
    assert agent.vendor_account.name in page
    # One empty row; "Add a row" asks for the next.
    assert page.count('name="var_key"') == 1
    assert page.count('name="meta_key"') == 1


def test_it_refuses_the_form_to_a_manager(client_as, agent):
    assert client_as("manager").get(NEW).status_code == 403
    assert client_as("manager").post(NEW, post_data(agent)).status_code == 403
    assert not Call.objects.exists()


def test_it_offers_only_calling_accounts(client_as):
    VendorAccountFactory(name="Revrag main")
    VendorAccountFactory(name="Outreach", kind=VendorKind.REVOR)
    page = client_as("operator").get(NEW).content.decode()
    assert "Revrag main" in page
    assert "Outreach" not in page


def test_it_reloads_the_agents_of_the_chosen_account(client_as, agent):
    AgentFactory(name="Other account's agent")
    response = client_as("operator").get(
        NEW, {"vendor_account": agent.vendor_account_id}, HTTP_HX_TARGET="agent-field", **HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="agent-field"')
    assert "Sales agent" in html
    assert "Other account's agent" not in html


def test_it_finds_contacts_for_the_picker(client_as):
    ContactFactory(name="Priya Raman")
    ContactFactory(name="Zed Zulu")
    response = client_as("operator").get(
        NEW, {"contact_q": "priya"}, HTTP_HX_TARGET="contact-options", **HTMX
    )
    html = response.content.decode()
    assert "Priya Raman" in html
    assert "Zed Zulu" not in html


def test_it_places_a_call_and_goes_to_its_page(client_as, agent, role_users):
    response = client_as("operator").post(NEW, post_data(agent))
    call = Call.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("calls:detail", kwargs={"pk": call.pk})
    assert call.to_number == "+14155550100"
    assert call.variables == {"name": "Ada"}
    assert call.metadata == {"crm_id": "A-1"}
    assert call.created_by == role_users["operator"]
    assert call.agent == agent


def test_it_places_a_call_to_a_contact(client_as, agent):
    contact = ContactFactory()
    client_as("operator").post(NEW, post_data(agent, contact=contact.pk, to_number=""))
    call = Call.objects.get()
    assert call.contact == contact
    assert call.to_number == contact.phone_e164


def test_it_redirects_htmx_with_hx_redirect(client_as, agent):
    response = client_as("operator").post(
        NEW, post_data(agent), HTTP_HX_TARGET="new-call-form", **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("calls:detail", kwargs={"pk": Call.objects.get().pk})


def test_it_shows_the_services_message_on_the_number(client_as, agent):
    response = client_as("operator").post(NEW, post_data(agent, to_number="12"))
    assert response.status_code == 400
    form = response.context["form"]
    assert "cannot be called" in form.errors["to_number"][0]
    assert not Call.objects.exists()


def test_it_refuses_a_number_on_the_do_not_call_list(client_as, agent):
    DoNotCallEntryFactory(phone_e164="+14155550100")
    response = client_as("operator").post(NEW, post_data(agent))
    assert "do-not-call" in response.context["form"].errors["to_number"][0]
    assert not Call.objects.exists()


def test_it_refuses_an_agent_of_another_account(client_as, agent):
    other = AgentFactory()
    response = client_as("operator").post(NEW, post_data(agent, agent=other.pk))
    assert "agent" in response.context["form"].errors
    assert not Call.objects.exists()


def test_it_asks_for_a_number_or_a_contact(client_as, agent):
    response = client_as("operator").post(NEW, post_data(agent, to_number=""))
    assert "Pick a contact" in response.context["form"].errors["to_number"][0]


def test_it_refuses_duplicate_variable_names(client_as, agent):
    response = client_as("operator").post(
        NEW, post_data(agent, var_key=["a", "a"], var_value=["1", "2"])
    )
    assert "given twice" in response.context["form"].errors["variables"][0]
    page = response.content.decode()
    assert 'value="a"' in page


def test_it_answers_htmx_errors_with_the_form_in_place(client_as, agent):
    response = client_as("operator").post(
        NEW, post_data(agent, to_number="12"), HTTP_HX_TARGET="new-call-form", **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="new-call-form"')
    assert "cannot be called" in html


def test_it_opens_as_a_modal_for_htmx(client_as, agent):
    response = client_as("operator").get(NEW, HTTP_HX_TARGET="", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith("<dialog")
    assert 'id="new-call-form"' in html


def test_it_shows_agents_without_javascript(client_as, agent):
    response = client_as("operator").post(
        NEW, {"vendor_account": agent.vendor_account_id, "refresh": "account"}
    )
    assert response.status_code == 200
    assert "Sales agent" in response.content.decode()
    assert not Call.objects.exists()


# --- Variables from the contact, one row at a time -------------------------------------------


@pytest.fixture
def collections_agent():
    return AgentFactory(
        name="Collections",
        variables=[
            {"name": "customer_name", "type": "string", "default_value": "there"},
            {"name": "first_name", "type": "string", "default_value": ""},
            {"name": "plan", "type": "string", "default_value": ""},
            {"name": "due_date", "type": "date", "default_value": ""},
        ],
    )


def variable_rows(response) -> list[tuple[str, str]]:
    form = response.context["form"]
    return [(key, value) for key, value, _placeholder in form.variable_inputs]


def test_it_fills_the_agents_variables_from_the_chosen_contact(client_as, collections_agent):
    contact = ContactFactory(name="Ada Lovelace", metadata={"plan": "Gold"})
    response = client_as("operator").get(
        NEW,
        {
            "vendor_account": collections_agent.vendor_account_id,
            "agent": collections_agent.pk,
            "contact": contact.pk,
        },
    )
    assert variable_rows(response) == [
        ("customer_name", "Ada Lovelace"),
        ("first_name", "Ada"),
        ("plan", "Gold"),
        ("due_date", ""),
        ("", ""),
    ]
    page = response.content.decode()
    assert 'value="Ada Lovelace"' in page
    assert 'placeholder="default: there"' in page


def test_it_fills_the_variables_when_the_account_changes(client_as, collections_agent):
    contact = ContactFactory(name="Grace Hopper")
    response = client_as("operator").get(
        NEW,
        {"vendor_account": collections_agent.vendor_account_id, "contact": contact.pk},
        HTTP_HX_TARGET="agent-field",
        **HTMX,
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="agent-field"')
    # The account's first agent is the one the browser selects: its variables come along, to
    # be swapped in place of the old ones.
    assert '<fieldset id="call-variables"' in html
    assert 'hx-swap-oob="true"' in html
    assert 'value="Grace Hopper"' in html
    assert f'name="prefilled_for" value="{collections_agent.pk}:{contact.pk}"' in html


def test_it_fills_the_variables_when_the_contact_changes(client_as, collections_agent):
    contact = ContactFactory(name="Grace Hopper")
    response = client_as("operator").get(
        NEW,
        {
            "vendor_account": collections_agent.vendor_account_id,
            "agent": collections_agent.pk,
            "contact": contact.pk,
            "prefilled_for": f"{collections_agent.pk}:",
            "var_key": ["customer_name", "first_name"],
            "var_value": ["", ""],
        },
        HTTP_HX_TARGET="call-variables",
        **HTMX,
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="call-variables"')
    assert "hx-swap-oob" not in html
    assert 'value="Grace Hopper"' in html
    assert 'value="Grace"' in html


def test_it_replaces_the_previous_contacts_values_and_keeps_typed_ones(
    client_as, collections_agent
):
    ada = ContactFactory(name="Ada Lovelace", metadata={"plan": "Gold"})
    bob = ContactFactory(name="Bob Stone", metadata={})
    response = client_as("operator").get(
        NEW,
        {
            "vendor_account": collections_agent.vendor_account_id,
            "agent": collections_agent.pk,
            "contact": bob.pk,
            "prefilled_for": f"{collections_agent.pk}:{ada.pk}",
            "var_key": ["customer_name", "first_name", "plan", "due_date"],
            # The operator changed the first name and typed a due date before switching.
            "var_value": ["Ada Lovelace", "Countess", "Gold", "2026-12-24"],
        },
    )
    assert variable_rows(response) == [
        ("customer_name", "Bob Stone"),
        ("first_name", "Countess"),
        ("plan", ""),
        ("due_date", "2026-12-24"),
        ("", ""),
    ]


def test_it_keeps_typed_values_when_the_choice_did_not_change(client_as, collections_agent):
    ada = ContactFactory(name="Ada Lovelace")
    choice = f"{collections_agent.pk}:{ada.pk}"
    response = client_as("operator").post(
        NEW,
        {
            "vendor_account": collections_agent.vendor_account_id,
            "agent": collections_agent.pk,
            "contact": ada.pk,
            "prefilled_for": choice,
            "var_key": ["customer_name"],
            "var_value": ["Lady Ada"],
            "refresh": "add-var-row",
        },
    )
    assert response.status_code == 200
    assert variable_rows(response)[0] == ("customer_name", "Lady Ada")
    assert not Call.objects.exists()


def test_it_adds_one_empty_row_at_a_time_without_javascript(client_as, agent):
    response = client_as("operator").post(
        NEW,
        {
            "vendor_account": agent.vendor_account_id,
            "agent": agent.pk,
            "var_key": ["plan", ""],
            "var_value": ["Gold", ""],
            "meta_key": ["crm_id"],
            "meta_value": ["A-1"],
            "refresh": "add-var-row",
        },
    )
    page = response.content.decode()
    assert page.count('name="var_key"') == 3
    assert page.count('name="meta_key"') == 2
    assert 'value="Gold"' in page
    assert not Call.objects.exists()


def test_it_sends_the_filled_variables_and_not_the_empty_ones(client_as, collections_agent):
    contact = ContactFactory(name="Ada Lovelace")
    response = client_as("operator").post(
        NEW,
        {
            "vendor_account": collections_agent.vendor_account_id,
            "agent": collections_agent.pk,
            "contact": contact.pk,
            "to_number": "",
            "var_key": ["customer_name", "first_name", "plan", "due_date", ""],
            "var_value": ["Ada Lovelace", "Ada", "", "", ""],
        },
    )
    assert response.status_code == 302
    assert Call.objects.get().variables == {"customer_name": "Ada Lovelace", "first_name": "Ada"}


# --- Contact or number, and how a number was read ---------------------------------------------


def test_it_refuses_a_contact_and_a_typed_number_together(client_as, agent):
    contact = ContactFactory(name="Ada Lovelace")
    response = client_as("operator").post(
        NEW, post_data(agent, contact=contact.pk, to_number="+1 415 555 0199")
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "not both" in errors["to_number"][0]
    assert "keep one of the two" in errors["contact"][0]
    page = response.content.decode()
    # Both stay as typed, next to their messages.
    assert 'value="+1 415 555 0199"' in page
    assert "not both" in page
    assert not Call.objects.exists()


def test_it_says_which_region_a_number_without_plus_was_read_in(client_as, agent, settings):
    settings.CALLOPS_DEFAULT_REGION = "US"
    response = client_as("operator").get(
        NEW, {"to_number": "(415) 555-0101"}, HTTP_HX_TARGET="number-hint", **HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<p id="number-hint"')
    assert "Read as a US number: +1 415 555 0101" in html


def test_it_shows_the_reading_beside_the_number_after_a_refused_post(client_as, agent, settings):
    settings.CALLOPS_DEFAULT_REGION = "GB"
    response = client_as("operator").post(
        NEW, post_data(agent, to_number="020 7946 0958", var_key=["a", "a"], var_value=["1", "2"])
    )
    assert response.status_code == 400
    assert "Read as a GB number: +44 20 7946 0958" in response.content.decode()


def test_it_says_nothing_was_assumed_for_a_number_with_plus(client_as, agent):
    response = client_as("operator").get(
        NEW, {"to_number": "+44 20 7946 0958"}, HTTP_HX_TARGET="number-hint", **HTMX
    )
    assert "Read as" not in response.content.decode()


def test_it_says_why_a_number_cannot_be_read_in_the_region(client_as, agent, settings):
    settings.CALLOPS_DEFAULT_REGION = "US"
    response = client_as("operator").get(
        NEW, {"to_number": "555 01"}, HTTP_HX_TARGET="number-hint", **HTMX
    )
    assert "Not a US number: too short." in response.content.decode()
