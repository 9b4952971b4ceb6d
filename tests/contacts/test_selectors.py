from __future__ import annotations

import pytest

from accounts.models import AuditAction, AuditEvent
from contacts import services
from contacts.selectors import do_not_call_numbers, is_on_do_not_call
from tests.factories import DoNotCallEntryFactory

pytestmark = pytest.mark.django_db


def test_it_tells_whether_a_number_is_on_the_do_not_call_list():
    DoNotCallEntryFactory(phone_e164="+14155552671")
    assert is_on_do_not_call("+14155552671")
    assert not is_on_do_not_call("+14155552672")


def test_it_finds_the_listed_numbers_among_many(django_assert_num_queries):
    DoNotCallEntryFactory(phone_e164="+14155552671")
    DoNotCallEntryFactory(phone_e164="+14155559999")
    phones = [f"+1415555{i:04d}" for i in range(6000)]
    with django_assert_num_queries(2):  # one query per 5,000 numbers
        assert do_not_call_numbers(phones + phones[:10]) == {"+14155552671"}
    assert do_not_call_numbers([]) == set()


def test_it_keeps_the_first_entry_of_a_number(make_user):
    user = make_user("olivia")
    entry, created = services.do_not_call_add(phone_e164="+14155552671", reason="a", added_by=user)
    again, created_again = services.do_not_call_add(phone_e164="+14155552671", reason="b")
    assert (created, created_again) == (True, False)
    assert again.pk == entry.pk and again.reason == "a"


def test_it_audits_do_not_call_changes_made_on_the_page(
    client_as, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from contacts.models import DoNotCallEntry

    operator = client_as("operator")
    operator.post(reverse("contacts:dnc"), {"phone": "+14155552671", "reason": "STOP"})
    entry = DoNotCallEntry.objects.get()
    client_as("admin").post(
        reverse("contacts:dnc_remove", kwargs={"pk": entry.pk}), {"reason": "Consent given"}
    )
    recorded = list(
        AuditEvent.objects.order_by("id").values_list("action", "target", "actor_label")
    )
    assert recorded == [
        (AuditAction.DNC_ADDED, "+14155552671", "olivia"),
        (AuditAction.DNC_REMOVED, "+14155552671", "adele"),
    ]
    removal = AuditEvent.objects.get(action=AuditAction.DNC_REMOVED).detail
    assert removal["removal_reason"] == "Consent given" and removal["source"] == "manual"
    assert not DoNotCallEntry.objects.exists()


def test_it_matches_a_number_typed_any_way_but_not_digits_inside_words():
    from contacts.selectors import contact_list
    from tests.factories import ContactFactory

    ada = ContactFactory(name="Ada", phone_e164="+14155552671", email="ada@example.com")
    ContactFactory(name="Bob", phone_e164="+14155552672", email="bob@example.com")
    assert list(contact_list(search="(415) 555-2671")) == [ada]
    assert list(contact_list(search="555 2671")) == [ada]
    assert list(contact_list(search="ada2")) == []
