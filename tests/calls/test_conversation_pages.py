"""Conversation metrics on the call page and as call log filters."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.call_log import call_page
from calls.conversation_metrics import conversation_measure, human_seconds
from calls.models import CallConversation, CallState
from calls.selectors import CallFilters, call_list
from tests.calls.test_conversation import ALTERNATING, line
from tests.factories import CallConversationFactory, CallFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db


def measured_call(transcript: list[dict], **extra):
    call = CallFactory(state=CallState.ENDED, transcript=transcript, **extra)
    conversation_measure(call_id=call.pk)
    return call


def detail(call) -> str:
    return reverse("calls:detail", kwargs={"pk": call.pk})


def test_it_shows_the_conversation_with_labels_and_human_units(client_as):
    call = measured_call(ALTERNATING)
    page = client_as("manager").get(detail(call)).content.decode()
    for text in (
        "Conversation",
        "Talk ratio",
        "Agent 74 % (10 s) · Customer 26 % (3.5 s)",
        "Longest monologue",
        "Agent 5 s · Customer 2 s",
        "Agent 0 · Customer 0; 0 s spoken over",
        "Silences over 3 s",
        "1 (longest 4 s)",
        "Agent&#x27;s first word",
        "0.5 s",
        "p50 0.5 s · p90 1 s (2 answers)",
        "Agent 102 · Customer 120",
        "Agent 17 · Customer 7",
    ):
        assert text in page, text


def test_it_says_rep_on_a_revont_call(client_as):
    revont = VendorAccountFactory(kind="revont", base_url="http://127.0.0.1:9/revont/v1")
    call = measured_call(ALTERNATING, vendor_account=revont, agent=None)
    page = client_as("manager").get(detail(call)).content.decode()
    assert "Rep 74 % (10 s) · Customer 26 % (3.5 s)" in page
    assert "Rep response gap" in page


def test_it_shows_a_dash_for_what_an_untimed_transcript_cannot_tell(client_as):
    call = measured_call([{"speaker": "agent", "text": "Hello there"}])
    page = client_as("manager").get(detail(call)).content.decode()
    assert "no per-line times: only turns and words are known" in page
    assert "<dt>Talk ratio</dt><dd>—</dd>" in page
    assert "<dt>Words</dt><dd>Agent 2 · Customer 0</dd>" in page


def test_it_says_when_a_call_is_not_measured_yet_or_has_no_transcript(client_as):
    client = client_as("manager")
    waiting = CallFactory(state=CallState.ENDED, transcript=ALTERNATING)
    assert "Not measured yet" in client.get(detail(waiting)).content.decode()
    empty = measured_call([])
    assert "No transcript to measure." in client.get(detail(empty)).content.decode()
    live = CallFactory(state=CallState.RUNNING, transcript=ALTERNATING)
    assert "measured from the transcript" not in client.get(detail(live)).content.decode()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "—"), (0.0, "0 s"), (0.46, "0.5 s"), (4.0, "4 s"), (12.3, "12 s"), (75, "1 min 15 s")],
)
def test_it_reads_seconds_as_people_do(seconds, shown):
    assert human_seconds(seconds) == shown


# Agent share 1.0, long silences 0, no response gap.
MONOLOGUE = [line("agent", 0.0, 30.0, "a voicemail message")]
# Agent share 0.5, one long silence (6 s), response gap p90 6 s.
SLOW = [
    line("customer", 0.0, 2.0, "hello"),
    line("agent", 8.0, 10.0, "hi"),
]


def ids(calls) -> set[int]:
    return {call.pk for call in calls}


def test_it_filters_the_call_log_by_talk_share_silences_and_response_gap():
    alternating, monologue, slow = (
        measured_call(ALTERNATING),
        measured_call(MONOLOGUE),
        measured_call(SLOW),
    )
    never_measured = CallFactory(state=CallState.ENDED, transcript=ALTERNATING)
    untimed = CallConversationFactory(timed=False, lines=3, turns=2).call
    assert ids(call_list(filters=CallFilters(talk_share_min=60))) == {alternating.pk, monologue.pk}
    assert ids(call_list(filters=CallFilters(talk_share_min=50, talk_share_max=80))) == {
        alternating.pk,
        slow.pk,
    }
    assert ids(call_list(filters=CallFilters(long_silences=True))) == {alternating.pk, slow.pk}
    assert ids(call_list(filters=CallFilters(long_silences=False))) == {monologue.pk}
    assert ids(call_list(filters=CallFilters(min_response_gap_p90=2))) == {slow.pk}
    assert ids(call_list(filters=CallFilters(min_response_gap_p90=0.5))) == {
        alternating.pk,
        slow.pk,
    }
    assert {never_measured.pk, untimed.pk} <= ids(call_list())
    both = CallFilters(long_silences=True, min_response_gap_p90=2, talk_share_max=60)
    assert ids(call_page(filters=both).calls) == {slow.pk}


def test_it_filters_from_the_query_string_and_keeps_the_values(client_as):
    slow = measured_call(SLOW)
    measured_call(ALTERNATING)
    page = client_as("operator").get(
        reverse("calls:list"), {"talk_from": 40, "talk_to": 60, "silences": "yes", "gap_p90": 2}
    )
    content = page.content.decode()
    assert content.count('<td><a href="/calls/') == 1
    assert detail(slow) in content
    assert 'name="gap_p90" value="2' in content
    assert 'name="talk_from" value="40"' in content
    assert "Silences over 3 s" in content


def test_it_ignores_a_bad_conversation_filter_and_says_so(client_as):
    measured_call(ALTERNATING)
    page = client_as("operator").get(reverse("calls:list"), {"talk_from": 140, "gap_p90": "nan"})
    content = page.content.decode()
    assert page.status_code == 200
    assert "Some filters were ignored" in content
    assert "talk_from" in content and "gap_p90" in content
    assert content.count('<td><a href="/calls/') == 1
    assert CallConversation.objects.count() == 1
