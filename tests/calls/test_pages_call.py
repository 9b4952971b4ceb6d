"""One call's page: header, live polling that stops, escaped third-party text, admin payload."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import CallEvent, CallOutcome, CallState, CommonOutcome
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    '<script>alert("t")</script>',
    '<img src=x onerror="alert(1)">',
    '<div hx-get="/settings/" hx-trigger="load">x</div>',
]


def detail(call) -> str:
    return reverse("calls:detail", kwargs={"pk": call.pk})


def poll(client, call):
    return client.get(detail(call), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="call-status")


@pytest.mark.parametrize("role", ["operator", "manager", "admin"])
def test_it_shows_a_call_to_every_role(client_as, role):
    call = CallFactory(
        state=CallState.ENDED,
        outcome=CallOutcome.NOT_PICKED,
        common_outcome=CommonOutcome.NO_ANSWER,
        vendor_outcome="CALL_NOT_PICKED",
        duration_seconds=42,
        summary="Asked to call back.",
        variables={"name": "Ada"},
        metadata={"crm_id": "A-1"},
        extracted_variables={"interested": True},
    )
    page = client_as(role).get(detail(call)).content.decode()
    for text in ("Ended", "No answer", "CALL_NOT_PICKED", "42 s", "Asked to call back."):
        assert text in page
    for text in ("Ada", "crm_id", "A-1", "interested", "true"):
        assert text in page
    assert call.contact.name in page


def test_it_answers_404_for_an_unknown_call(client_as):
    assert client_as("manager").get(reverse("calls:detail", kwargs={"pk": 999})).status_code == 404


def test_it_says_a_pending_call_is_queued_at_callops(client_as):
    page = client_as("operator").get(detail(CallFactory())).content.decode()
    assert "Queued at callops" in page


def test_it_polls_a_live_call_every_two_seconds(client_as):
    call = CallFactory(state=CallState.RUNNING)
    client = client_as("operator")
    page = client.get(detail(call)).content.decode()
    assert 'hx-trigger="every 2s"' in page
    response = poll(client, call)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="call-status"')
    assert 'hx-trigger="every 2s"' in html


def test_it_stops_polling_with_286_when_the_call_has_ended(client_as):
    call = CallFactory(state=CallState.RUNNING)
    client = client_as("operator")
    call.state = CallState.ENDED
    call.save()
    response = poll(client, call)
    assert response.status_code == 286
    assert response["HX-Refresh"] == "true"
    assert "hx-trigger" not in response.content.decode()
    assert "hx-trigger" not in client.get(detail(call)).content.decode()


def test_it_shows_the_vendor_message_of_a_failure(client_as):
    call = CallFactory(state=CallState.FAILED, error_message="Number is not reachable.")
    page = client_as("operator").get(detail(call)).content.decode()
    assert "Number is not reachable." in page
    assert "Traceback" not in page


def test_it_escapes_and_disables_third_party_text(client_as):
    call = CallFactory(
        state=CallState.ENDED,
        summary=" ".join(HOSTILE),
        transcript=[
            {"speaker": "customer", "text": text, "start": n, "end": n + 1}
            for n, text in enumerate(HOSTILE)
        ],
        extracted_variables={"<b>key</b>": HOSTILE[1]},
        metadata={"note": HOSTILE[2]},
        recording_url="https://api.revrag.ai/r.wav",
        error_message=HOSTILE[0],
        vendor_outcome='"><script>x</script>',
    )
    CallEvent.objects.create(call=call, source="webhook", message=HOSTILE[1])
    page = client_as("admin").get(detail(call)).content.decode()
    for text in HOSTILE:
        assert text not in page
    assert "&lt;script&gt;" in page
    assert "&lt;img src=x onerror=" in page
    assert "&lt;div hx-get=" in page
    assert "<b>key</b>" not in page
    body = page[page.index("<main") :]
    assert "<script>" not in body.replace('<script src="/static/js/calls.js" defer></script>', "")
    # Every container of vendor text is inert for htmx.
    assert page.count("hx-disable") >= 5
    assert 'class="transcript" hx-disable' in page


def test_it_shows_the_raw_payload_to_admins_only(client_as):
    call = CallFactory(last_payload={"call_status": "ENDED", "secretish": "<b>x</b>"})
    admin = client_as("admin").get(detail(call)).content.decode()
    assert "Last vendor payload" in admin
    assert "&quot;call_status&quot;: &quot;ENDED&quot;" in admin
    assert "&lt;b&gt;x&lt;/b&gt;" in admin
    manager = client_as("manager").get(detail(call)).content.decode()
    assert "Last vendor payload" not in manager
    assert "secretish" not in manager


def test_it_plays_the_recording_through_callops_only(client_as):
    call = CallFactory(
        state=CallState.ENDED,
        recording_url="https://api.revrag.ai/rec/secret-token.wav",
        transcript=[{"speaker": "agent", "text": "Hello", "start": 65.5, "end": 70}],
    )
    page = client_as("manager").get(detail(call)).content.decode()
    assert f'src="{reverse("calls:recording", kwargs={"pk": call.pk})}"' in page
    assert "secret-token" not in page
    assert 'data-start="65.500"' in page
    assert "01:05" in page


def test_it_shows_the_timeline(client_as):
    call = CallFactory()
    CallEvent.objects.create(call=call, source="user", message="Call requested by olivia.")
    page = client_as("manager").get(detail(call)).content.decode()
    assert "Call requested by olivia." in page
