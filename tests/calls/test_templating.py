"""Follow-up message templates: plain text out, nothing reachable beyond the contact and call."""

from __future__ import annotations

import pytest

from calls.templating import TemplateError, check_template, message_context, render
from tests.factories import CallFactory, ContactFactory


@pytest.fixture
def call(db):
    contact = ContactFactory(
        name="Ada <b>O'Brien</b> & Co", email="ada@example.com", metadata={"plan": "Pro"}
    )
    return CallFactory(
        contact=contact,
        to_number=contact.phone_e164,
        variables={"offer": "10% off"},
        extracted_variables={"interested": True, "budget": {"amount": 5, "currency": "EUR"}},
        summary="Wants a demo on {{ Tuesday }}",
    )


def test_it_fills_contact_and_call_fields_as_plain_text(call):
    text = render(
        "Hi {{ contact.first_name }} / {{contact.name}}: {{ call.variables.offer }}, "
        "{{ call.extracted.interested }} {{ contact.metadata.plan }}",
        message_context(call),
    )
    # Not HTML-escaped: the vendor sends text, and "&" or "<b>" must arrive as written.
    assert text == "Hi Ada / Ada <b>O'Brien</b> & Co: 10% off, True Pro"


def test_it_does_not_interpret_what_the_filled_values_contain(call):
    # The summary holds braces; filling is one pass, so they are never read as a placeholder.
    assert render("{{ call.summary }}", message_context(call)) == "Wants a demo on {{ Tuesday }}"


def test_it_renders_missing_keys_as_empty_and_objects_as_json(call):
    context = message_context(call)
    assert render("[{{ call.variables.nope }}]", context) == "[]"
    assert render("{{ call.extracted.budget }}", context) == '{"amount": 5, "currency": "EUR"}'


@pytest.mark.parametrize(
    "template",
    [
        "{{ contact.__class__ }}",
        "{{ call.vendor_account }}",
        "{{ call.vendor_account.api_key_encrypted }}",
        "{{ contact.pk }}",
        "{{ settings.SECRET_KEY }}",
        "{{ call.variables }}",
        "{{ contact.name|upper }}",
        "{{ call.metadata.x.y }}",
        "{{ }}",
    ],
)
def test_it_refuses_placeholders_outside_the_contact_and_call(template):
    with pytest.raises(TemplateError):
        check_template(template)


def test_it_cannot_reach_attributes_even_when_a_template_skips_the_check(call):
    # render() only looks keys up in the plain dicts of message_context: no attribute access.
    context = message_context(call)
    assert render("{{ contact.__class__ }}{{ call.vendor_account.pk }}", context) == ""
    assert render("{{ call.summary.upper }}", context) == ""


def test_it_leaves_django_template_syntax_as_text(call):
    template = "{% load static %}{{ contact.first_name }}"
    assert check_template(template) == template
    assert render(template, message_context(call)) == "{% load static %}Ada"
