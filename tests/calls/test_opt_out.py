"""Opt-outs heard on a call: a phrase in the transcript or the agent's variable puts the number
on the do-not-call list with its source, and stops queued follow-ups."""

from __future__ import annotations

import pytest

from calls.models import CallEvent, PostCallAction, StepStatus
from calls.opt_out import said_opt_out
from calls.post_call import post_call_plan, post_call_run
from contacts.models import DoNotCallEntry, OptOutSource
from tests.factories import AgentFactory, CallFactory, PostCallStepFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "opted_out"),
    [
        ("Please STOP calling me!", True),
        ("Don’t call me again, thanks.", True),  # a typographic apostrophe
        ("No me llames más, por favor", True),  # an accent
        ("Remove me from your list.", True),
        ("Ne m’appelez plus.", True),
        ("I work nonstop, calling is fine", False),  # not a word of its own
        ("Can you call me again tomorrow?", False),
        ("", False),
    ],
)
def test_it_recognises_opt_out_phrases_in_several_languages(text, opted_out):
    assert said_opt_out(text) is opted_out


def ended_call(**fields):
    return CallFactory(state="ended", to_number="+14155552671", contact=None, **fields)


def test_it_lists_the_number_from_what_the_customer_said_and_cancels_queued_follow_ups():
    earlier = PostCallStepFactory(
        call=ended_call(), action=PostCallAction.FOLLOW_UP, status=StepStatus.PENDING
    )
    sent = PostCallStepFactory(
        call=earlier.call, rule=earlier.rule, action=PostCallAction.LIKE_POST, status="done"
    )
    call = ended_call(
        transcript=[
            {"speaker": "agent", "text": "Hi, do you want me to stop calling you?"},
            {"speaker": "customer", "text": "Yes. Take me off your list."},
        ]
    )
    post_call_plan(call_id=call.pk)
    entry = DoNotCallEntry.objects.get()
    assert (entry.phone_e164, entry.source, entry.call_id) == (
        "+14155552671",
        OptOutSource.TRANSCRIPT,
        call.pk,
    )
    # The agent's own question is not an opt-out: the customer's answer is the evidence.
    assert entry.evidence == "Line 2, Customer: Yes. Take me off your list."
    earlier.refresh_from_db()
    sent.refresh_from_db()
    assert earlier.status == StepStatus.SKIPPED
    assert earlier.error == f"Cancelled: the contact opted out on call {call.pk}."
    assert sent.status == "done"  # what was sent stays as it was
    event = CallEvent.objects.filter(call=call).last()
    assert "Added to the do-not-call list; 1 queued follow-up(s) cancelled" in event.message


def test_it_lists_the_number_from_the_agents_opt_out_variable_only_when_configured():
    agent = AgentFactory(opt_out_variable="do_not_call")
    quiet = ended_call(agent=agent, extracted_variables={"do_not_call": "no"})
    post_call_plan(call_id=quiet.pk)
    assert not DoNotCallEntry.objects.exists()
    unconfigured = ended_call(extracted_variables={"do_not_call": True})
    post_call_plan(call_id=unconfigured.pk)
    assert not DoNotCallEntry.objects.exists()
    said = ended_call(agent=agent, extracted_variables={"do_not_call": "true"})
    post_call_plan(call_id=said.pk)
    entry = DoNotCallEntry.objects.get()
    assert entry.source == OptOutSource.EXTRACTED_VARIABLE
    assert entry.evidence == "do_not_call = true" and entry.call_id == said.pk


def test_it_does_not_send_a_follow_up_to_a_number_listed_after_it_was_planned():
    step = PostCallStepFactory(
        call=ended_call(), action=PostCallAction.FOLLOW_UP, status=StepStatus.PENDING
    )
    DoNotCallEntry.objects.create(phone_e164="+14155552671", reason="asked on another call")
    # No vendor is reachable from the step's rule: skipping happens before any request.
    post_call_run(call_id=step.call_id)
    step.refresh_from_db()
    assert step.status == StepStatus.SKIPPED
    assert step.error == "+14155552671 is on the do-not-call list: no follow-up is sent."


def test_only_those_who_configure_agents_set_the_opt_out_variable(client_as):
    agent = AgentFactory()
    url = f"/calls/agents/{agent.pk}/"
    assert client_as("manager").post(url, {"variable": "dnc"}).status_code == 403
    assert 'name="variable"' not in client_as("manager").get(url).content.decode()
    admin = client_as("admin")
    bad = admin.post(url, {"variable": "do not call"})
    assert bad.status_code == 400 and "Letters, digits" in bad.content.decode()
    assert admin.post(url, {"variable": "do_not_call"}).status_code == 302
    agent.refresh_from_db()
    assert agent.opt_out_variable == "do_not_call"
    assert "<code>do_not_call</code>" in admin.get(url).content.decode()
