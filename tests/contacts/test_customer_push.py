"""Pushing contacts to the voice platform's customer import, over real HTTP against the sandbox:
batches, a result per row, the do-not-call list, the rate budget, and one import per batch
however often it is sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.customer_push import (
    MAX_LOST_RUNS,
    PushRefused,
    customer_push_create,
    customer_push_run,
    customer_pushes_to_resume,
)
from contacts.models import Contact, CustomerPush, CustomerPushRow, PushRowStatus, PushStatus
from contacts.selectors import contact_list
from tests.factories import ContactFactory, DoNotCallEntryFactory, VendorAccountFactory
from vendors.services import vendor_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def voice(make_account):
    return make_account("voice_platform")


@pytest.fixture
def people():
    """Five contacts: one on the do-not-call list, one whose number the vendor refuses."""
    contacts = [ContactFactory(name=f"Person {n}", metadata={"plan": "gold"}) for n in range(3)]
    blocked = ContactFactory(name="Blocked")
    DoNotCallEntryFactory(phone_e164=blocked.phone_e164)
    # Stored without the form's checks: the vendor's own validation refuses it.
    odd = Contact.objects.create(name="Odd number", phone_e164="+1")
    return [*contacts, blocked, odd]


def import_posts(sandbox) -> list[dict]:
    return [
        entry
        for entry in sandbox.log("voice_platform", method="POST")
        if entry["path"].endswith("/api/voice/customers/import")
    ]


def test_it_pushes_contacts_in_batches_with_a_result_per_row(voice, people, sandbox):
    push = customer_push_create(
        account=voice, contacts=Contact.objects.all(), selection="everyone", batch_size=2
    )
    assert (push.total_rows, push.batch_count, push.skipped_count) == (5, 2, 1)

    assert customer_push_run(push_id=push.pk) is None
    push.refresh_from_db()

    assert push.status == PushStatus.DONE
    assert (push.batches_done, push.accepted_count, push.rejected_count) == (2, 3, 1)
    rows = {row.name: row for row in CustomerPushRow.objects.filter(push=push)}
    assert rows["Person 0"].status == PushRowStatus.ACCEPTED
    assert rows["Person 0"].vendor_status == "created"
    assert rows["Person 0"].vendor_customer_id
    assert rows["Odd number"].status == PushRowStatus.REJECTED
    assert rows["Odd number"].detail == "phone must be in E.164 format"
    assert rows["Blocked"].status == PushRowStatus.SKIPPED
    assert rows["Blocked"].batch_index is None
    assert sandbox.state("voice_platform")["contacts"] == 3
    keys = [entry["idempotency_key"] for entry in import_posts(sandbox)]
    assert keys == [push.batch_key(0), push.batch_key(1)]
    assert rows["Person 1"].payload == {
        "phone": people[1].phone_e164,
        "name": "Person 1",
        "email": people[1].email,
        "metadata": {"plan": "gold"},
    }


def test_it_resends_a_batch_whose_answer_was_lost_and_imports_it_once(voice, people, sandbox):
    push = customer_push_create(
        account=voice, contacts=Contact.objects.exclude(name="Blocked"), selection="x"
    )
    batch = [row.payload for row in push.rows.order_by("position")]
    # A worker sent the batch and died before recording the answer.
    with vendor_client_for(voice) as client:
        client.import_customers(batch, idempotency_key=push.batch_key(0))

    customer_push_run(push_id=push.pk)

    push.refresh_from_db()
    assert push.status == PushStatus.DONE
    keys = [entry["idempotency_key"] for entry in import_posts(sandbox)]
    assert keys == [push.batch_key(0), push.batch_key(0)]
    assert sandbox.state("voice_platform")["contacts"] == 3
    # The vendor answered the resend from its record: "created", not "updated" by a second import.
    statuses = set(push.rows.exclude(name="Odd number").values_list("vendor_status", flat=True))
    assert statuses == {"created"}


def test_it_keeps_the_same_key_when_the_connection_drops_after_the_import(voice, people, sandbox):
    push = customer_push_create(account=voice, contacts=Contact.objects.all(), selection="x")
    sandbox.faults("voice_platform", drop_after_create=1)

    customer_push_run(push_id=push.pk)

    push.refresh_from_db()
    assert (push.status, push.accepted_count) == (PushStatus.DONE, 3)
    assert [e["idempotency_key"] for e in import_posts(sandbox)] == [push.batch_key(0)] * 2
    assert sandbox.state("voice_platform")["contacts"] == 3


def test_it_pauses_when_the_rate_budget_is_spent_and_goes_on_later(make_account, sandbox):
    # The vendor's 5 a window, with a day-long window (at the sandbox and in the account's
    # plan): its end is never seconds away, so the HTTP core cannot simply wait for it as it
    # does (up to 30 s) for a window that ends soon.
    group = "POST /api/voice/customers/import"
    sandbox.set_rate_limit("voice_platform", 5, 86400, group=group)
    voice = make_account(
        "voice_platform", rate_limits={group: {"limit": 5, "window_seconds": 86400}}
    )
    for _ in range(6):
        ContactFactory()
    push = customer_push_create(
        account=voice, contacts=Contact.objects.all(), selection="x", batch_size=1
    )

    wait = customer_push_run(push_id=push.pk)

    push.refresh_from_db()
    # 5 a window, 4 usable: the fifth batch waits for the next window, no 429 earned.
    assert push.batches_done == 4
    assert wait > 30
    assert push.status == PushStatus.RUNNING and push.locked_until is None
    assert push.waiting_until > timezone.now()
    assert all(entry["status"] == 200 for entry in import_posts(sandbox))
    assert push.pk not in customer_pushes_to_resume()
    assert push.pk in customer_pushes_to_resume(now=push.waiting_until + timedelta(seconds=61))


def test_it_refuses_a_batch_the_vendor_refuses_and_goes_on(voice, people, sandbox):
    push = customer_push_create(
        account=voice, contacts=Contact.objects.all(), selection="x", batch_size=2
    )
    sandbox.faults("voice_platform", fail_next=[400])

    customer_push_run(push_id=push.pk)

    push.refresh_from_db()
    assert push.status == PushStatus.DONE
    first_batch = push.rows.filter(batch_index=0)
    assert {row.status for row in first_batch} == {PushRowStatus.REJECTED}
    assert all(row.detail.startswith("Batch refused: ") for row in first_batch)
    assert push.rows.filter(batch_index=1, status=PushRowStatus.ACCEPTED).count() == 1


def test_it_fails_the_push_on_a_key_the_vendor_does_not_accept(make_account, people, sandbox):
    account = make_account("voice_platform", api_key="not-a-key")
    push = customer_push_create(account=account, contacts=Contact.objects.all(), selection="x")

    assert customer_push_run(push_id=push.pk) is None

    push.refresh_from_db()
    assert push.status == PushStatus.FAILED
    assert "Invalid or expired token" in push.error_message
    assert push.rows.filter(status=PushRowStatus.PENDING).count() == 4


def test_it_waits_out_a_passing_vendor_failure(make_account, people, sandbox):
    # A roomy budget, so the HTTP core's own retries do not run into the 5/min limit first.
    group = "POST /api/voice/customers/import"
    voice = make_account("voice_platform", rate_limits={group: 100})
    sandbox.set_rate_limit("voice_platform", 100, 60, group=group)
    push = customer_push_create(account=voice, contacts=Contact.objects.all(), selection="x")
    sandbox.faults("voice_platform", error_rate=1.0, error_status=503)

    wait = customer_push_run(push_id=push.pk)

    push.refresh_from_db()
    assert wait == 15.0
    assert (push.status, push.transient_failures, push.batches_done) == (PushStatus.RUNNING, 1, 0)
    assert push.error_message.startswith("Will try again")


def test_it_gives_up_after_losing_its_worker_three_times(voice, people, sandbox):
    push = customer_push_create(account=voice, contacts=Contact.objects.all(), selection="x")
    for _ in range(MAX_LOST_RUNS):
        # A run took the lease and died without releasing it.
        CustomerPush.objects.filter(pk=push.pk).update(
            status=PushStatus.RUNNING, locked_until=timezone.now() - timedelta(seconds=1)
        )
        assert push.pk in customer_pushes_to_resume()
        customer_push_run(push_id=push.pk)
        push.refresh_from_db()
        if push.status == PushStatus.FAILED:
            break
        CustomerPush.objects.filter(pk=push.pk).update(batches_done=0, status=PushStatus.RUNNING)

    assert push.status == PushStatus.FAILED
    assert f"lost {MAX_LOST_RUNS} times" in push.error_message


def test_it_leaves_a_push_another_run_owns_alone(voice, people, sandbox):
    push = customer_push_create(account=voice, contacts=Contact.objects.all(), selection="x")
    CustomerPush.objects.filter(pk=push.pk).update(locked_until=timezone.now() + timedelta(60))

    assert customer_push_run(push_id=push.pk) is None
    assert import_posts(sandbox) == []


def test_it_refuses_a_push_that_cannot_start(voice, people):
    with pytest.raises(PushRefused, match="not a voice-platform account"):
        customer_push_create(
            account=VendorAccountFactory(), contacts=Contact.objects.all(), selection="x"
        )
    with pytest.raises(PushRefused, match="No contacts"):
        customer_push_create(account=voice, contacts=Contact.objects.none(), selection="x")


def test_it_is_done_at_once_when_everyone_is_on_the_do_not_call_list(voice):
    blocked = ContactFactory()
    DoNotCallEntryFactory(phone_e164=blocked.phone_e164)

    push = customer_push_create(account=voice, contacts=Contact.objects.all(), selection="x")

    assert (push.status, push.batch_count, push.skipped_count) == (PushStatus.DONE, 0, 1)


# --- pages ---------------------------------------------------------------------------------------


def test_it_offers_ticking_contacts_to_editors_when_a_voice_account_exists(client_as, voice):
    ContactFactory()
    operator = client_as("operator").get(reverse("contacts:list")).content.decode()
    manager = client_as("manager").get(reverse("contacts:list")).content.decode()

    assert 'name="contact"' in operator and "Push all 1 matching" in operator
    assert 'name="contact"' not in manager


def test_it_pushes_ticked_contacts_from_the_contacts_page(
    client_as, voice, people, sandbox, django_capture_on_commit_callbacks
):
    client = client_as("operator")
    chosen = [people[0].pk, people[3].pk]  # the second is on the do-not-call list
    confirm = client.get(reverse("contacts:push"), {"contact": chosen})
    page = confirm.content.decode()
    assert "2 selected contacts" in page
    assert "1 on the do-not-call list will not be sent" in page
    assert "<strong data-sendable>1</strong>" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("contacts:push"), {"contact": chosen, "vendor_account": voice.pk}
        )

    push = CustomerPush.objects.get()
    assert response["Location"] == reverse("contacts:push_detail", kwargs={"pk": push.pk})
    assert push.status == PushStatus.DONE  # the eager task ran on commit
    detail = client.get(response["Location"]).content.decode()
    assert 'data-row-status="accepted"' in detail and 'data-row-status="skipped"' in detail
    rejected = client.get(response["Location"], {"status": "rejected"}).content.decode()
    assert "No contact here." in rejected
    poll = client.get(
        response["Location"], headers={"HX-Request": "true", "HX-Target": "push-status"}
    )
    assert poll.status_code == 286
    assert client.get(reverse("contacts:pushes")).status_code == 200


def test_it_pushes_everyone_matching_the_search(
    client_as, voice, people, sandbox, django_capture_on_commit_callbacks
):
    client = client_as("admin")
    confirm = client.get(reverse("contacts:push"), {"scope": "search", "q": "Person"})
    assert "all 3 contacts matching “Person”" in confirm.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("contacts:push"),
            {"scope": "search", "q": "Person", "vendor_account": voice.pk},
        )

    push = CustomerPush.objects.get()
    assert set(push.rows.values_list("name", flat=True)) == {"Person 0", "Person 1", "Person 2"}
    assert push.accepted_count == 3


def test_it_sends_people_back_when_nothing_is_ticked(client_as, voice):
    response = client_as("operator").get(reverse("contacts:push"), follow=True)

    assert "Choose contacts first" in response.content.decode()


@pytest.mark.parametrize("name", ["contacts:push", "contacts:pushes"])
def test_it_keeps_pushes_from_managers(client_as, name):
    assert client_as("manager").get(reverse(name)).status_code == 403


def test_it_uses_the_contacts_page_filters_for_everyone_matching(voice):
    ContactFactory(name="Keep", email="")
    ContactFactory(name="Skip", email="a@example.com")
    assert list(contact_list(has_email=False).values_list("name", flat=True)) == ["Keep"]


def test_it_describes_everyone_when_nothing_narrows_the_list(client_as, voice, people):
    page = client_as("operator").get(reverse("contacts:push"), {"scope": "search"})
    narrowed = client_as("operator").get(
        reverse("contacts:push"), {"scope": "search", "email": "no"}
    )

    assert "all 5 contacts" in page.content.decode()
    assert "all 1 contact matching the filters" in narrowed.content.decode()
