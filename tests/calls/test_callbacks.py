"""Booking a callback when a call ends asking for one, the callback queue, and operators setting,
moving and cancelling callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from calls.callbacks import callback_book
from calls.models import Callback, CallbackStatus, CallEvent, CallState
from calls.models import CommonOutcome as Outcome
from calls.post_call import post_call_plan
from calls.services import call_apply_update
from calls.vendor_calls import CallUpdate
from contacts.compliance import policy_save
from tests.factories import CallbackFactory, CallFactory, ContactFactory, VoiceAccountFactory

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
# Thursday 3 December 2026, 17:30 in New York.
ENDED = datetime(2026, 12, 3, 22, 30, tzinfo=UTC)


def _ended_call(*, transcript=None, variables=None, zone="America/New_York", **fields):
    contact = ContactFactory(time_zone=zone)
    call = CallFactory(contact=contact, **fields)
    update = CallUpdate(
        vendor_call_id=f"vc-{call.pk}",
        status="ENDED",
        reason="USER_HANGUP",
        ended_at=ENDED,
        transcript=transcript or [],
        extracted_variables=variables or {},
    )
    call_apply_update(call_id=call.pk, update=update, source="webhook")
    post_call_plan(call_id=call.pk)  # as the worker runs it when the call ends
    call.refresh_from_db()
    return call


def test_it_books_a_callback_from_the_callees_words_in_their_time_zone():
    call = _ended_call(
        transcript=[
            {"speaker": "agent", "text": "Hi, is this a good moment?"},
            {"speaker": "user", "text": "Not now, call me back tomorrow afternoon please."},
        ]
    )
    assert call.common_outcome == Outcome.CALLBACK_REQUESTED
    callback = Callback.objects.get(source_call=call)
    assert callback.status == CallbackStatus.BOOKED
    assert callback.due_at == datetime(2026, 12, 4, 15, 0, tzinfo=NEW_YORK)
    assert callback.time_zone == "America/New_York"
    assert callback.requested == "Not now, call me back tomorrow afternoon please."
    assert callback.agent_id == call.agent_id and callback.contact_id == call.contact_id
    assert CallEvent.objects.filter(
        call=call, message="Callback booked for Fri 4 Dec, 15:00 (America/New_York)."
    ).exists()


def test_it_books_a_spanish_request_in_the_contacts_zone():
    call = _ended_call(
        transcript=[{"speaker": "user", "text": "Ahora no puedo, llámame mañana por la mañana."}],
        zone="Europe/Madrid",
    )
    callback = Callback.objects.get(source_call=call)
    assert callback.due_at == datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Europe/Madrid"))


def test_it_books_from_the_agents_extracted_variables():
    call = _ended_call(variables={"callback_requested": True, "callback_time": "in 2 hours"})
    callback = Callback.objects.get(source_call=call)
    assert (callback.status, callback.due_at) == (CallbackStatus.BOOKED, ENDED + timedelta(hours=2))
    assert callback.requested == "in 2 hours"


def test_it_puts_a_request_without_a_readable_time_in_the_queue(client_as):
    call = _ended_call(transcript=[{"speaker": "user", "text": "Busy now, call me later."}])
    callback = Callback.objects.get(source_call=call)
    assert (callback.status, callback.due_at) == (CallbackStatus.NEEDS_TIME, None)
    assert "could not read a time" in callback.note

    page = client_as("operator").get("/calls/callbacks/")
    assert page.status_code == 200
    assert "Busy now, call me later." in page.text and "Set a time" in page.text
    # The manager sees the queue but gets no buttons; the booked tab says it is empty.
    as_manager = client_as("manager").get("/calls/callbacks/")
    assert "Busy now" in as_manager.text and "Set a time" not in as_manager.text
    assert "No callback is booked" in client_as("operator").get("/calls/callbacks/?tab=booked").text


def test_it_moves_a_time_outside_calling_hours_to_the_first_allowed_one():
    policy_save(
        max_attempts_per_day=0,
        max_attempts_per_week=0,
        min_gap_minutes=0,
        rules=[{"place": "", "label": "Everywhere", "start_minute": 9 * 60, "end_minute": 20 * 60}],
    )
    call = _ended_call(variables={"callback_time": "tomorrow at 11pm"})
    callback = Callback.objects.get(source_call=call)
    assert callback.status == CallbackStatus.BOOKED
    assert callback.due_at == datetime(2026, 12, 5, 9, 0, tzinfo=NEW_YORK)
    assert callback.note.startswith("Asked for Fri 4 Dec, 23:00 (America/New_York); moved: ")


def test_it_books_one_callback_per_call_and_none_without_a_request():
    call = _ended_call(variables={"callback_time": "tomorrow"})
    assert callback_book(call=call) == Callback.objects.get(source_call=call)  # again: the same
    assert Callback.objects.count() == 1

    plain = _ended_call(transcript=[{"speaker": "user", "text": "Thanks, bye."}])
    assert plain.common_outcome == Outcome.COMPLETED
    assert not Callback.objects.filter(source_call=plain).exists()


def test_it_leaves_a_live_call_handoff_to_the_voice_platform():
    call = CallFactory(
        vendor_account=VoiceAccountFactory(),
        state=CallState.ENDED,
        ended_at=ENDED,
        common_outcome=Outcome.CALLBACK_REQUESTED,
        metadata={"handoff": {"note": "after 5pm"}},
    )
    assert callback_book(call=call) is None


def _local_input(moment: datetime, zone: str = "America/Los_Angeles") -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def test_an_operator_sets_the_time_of_a_queued_callback_in_the_contacts_zone(client_as):
    callback = CallbackFactory(status=CallbackStatus.NEEDS_TIME, due_at=None)
    operator = client_as("operator")
    assert "Set a callback time" in operator.get(f"/calls/callbacks/{callback.pk}/").text
    tomorrow = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    answer = operator.post(f"/calls/callbacks/{callback.pk}/", {"when": _local_input(tomorrow)})
    assert answer.status_code == 302
    callback.refresh_from_db()
    assert (callback.status, callback.due_at) == (CallbackStatus.BOOKED, tomorrow)
    assert callback.changed_by is not None and callback.note.startswith("Set by ")


def test_it_refuses_a_past_time_a_time_outside_hours_and_a_closed_callback_with_a_4xx(client_as):
    callback = CallbackFactory()
    due = callback.due_at
    operator = client_as("operator")
    past = operator.post(
        f"/calls/callbacks/{callback.pk}/",
        {"when": _local_input(timezone.now() - timedelta(hours=1))},
    )
    assert past.status_code == 400 and "Choose a time in the future." in past.text
    garbled = operator.post(f"/calls/callbacks/{callback.pk}/", {"when": "tomorrow-ish"})
    assert garbled.status_code == 400 and "Enter a date and a time" in garbled.text
    policy_save(
        max_attempts_per_day=0,
        max_attempts_per_week=0,
        min_gap_minutes=0,
        rules=[{"place": "", "label": "Everywhere", "start_minute": 9 * 60, "end_minute": 10 * 60}],
    )
    late = (timezone.now() + timedelta(days=1)).astimezone(ZoneInfo("America/Los_Angeles"))
    late = late.replace(hour=22, minute=0, second=0, microsecond=0)
    outside = operator.post(f"/calls/callbacks/{callback.pk}/", {"when": _local_input(late)})
    assert outside.status_code == 400 and "The first allowed time is" in outside.text
    callback.refresh_from_db()
    assert callback.due_at == due  # nothing stored from a refused change

    callback.status = CallbackStatus.DIALLED
    callback.save()
    closed = operator.post(f"/calls/callbacks/{callback.pk}/cancel")
    assert closed.status_code == 409 and "dialled already" in closed.text


def test_cancelling_asks_for_confirmation_first(client_as):
    callback = CallbackFactory()
    operator = client_as("operator")
    confirm = operator.get(f"/calls/callbacks/{callback.pk}/cancel")
    assert confirm.status_code == 200 and "Cancel the callback to" in confirm.text
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.BOOKED  # a GET changes nothing
    done = operator.post(f"/calls/callbacks/{callback.pk}/cancel", {"next": "/calls/callbacks/"})
    assert done.status_code == 302 and done.url == "/calls/callbacks/"
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.CANCELLED
    assert client_as("manager").post(f"/calls/callbacks/{callback.pk}/cancel").status_code == 403


def test_the_contact_and_campaign_pages_show_their_callbacks(client_as):
    from tests.factories import CampaignFactory

    campaign = CampaignFactory()
    callback = CallbackFactory(campaign=campaign, requested="call me back on Monday")
    operator = client_as("operator")
    contact_page = operator.get(f"/contacts/{callback.contact_id}/").text
    assert "call me back on Monday" in contact_page and "Change time" in contact_page
    campaign_page = operator.get(f"/campaigns/{campaign.pk}/").text
    assert "call me back on Monday" in campaign_page and "the agent they spoke to" in campaign_page
