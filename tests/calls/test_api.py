"""The calls REST API: token auth, role rules, filters, Idempotency-Key, vendor errors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role
from calls.models import Agent, Call, CallState
from calls.services import agents_sync
from contacts.models import DoNotCallEntry
from dashboard.services import api_token_create
from tests.factories import CallFactory


@pytest.fixture
def token_for(role_users):
    def make(role: str) -> str:
        created = api_token_create(
            name=f"{role} token", role=Role(role), created_by=role_users[role]
        )
        return created.plaintext

    return make


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def revrag(make_account):
    account = make_account("revrag")
    agents_sync(account=account)
    return account


def test_it_places_a_call_once_per_idempotency_key(client, token_for, revrag, sandbox):
    agent = Agent.objects.filter(vendor_account=revrag).first()
    body = {
        "vendor_account": revrag.pk,
        "agent": agent.pk,
        "to_number": "+14155550170",
        "variables": {"name": "Ada"},
    }
    headers = {**auth(token_for("operator")), "Idempotency-Key": "crm-42"}
    first = client.post(
        reverse("api_calls"), body, content_type="application/json", headers=headers
    )
    again = client.post(
        reverse("api_calls"), body, content_type="application/json", headers=headers
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["to_number"] == "+14155550170"
    assert Call.objects.count() == 1


def test_it_refuses_a_do_not_call_number_with_a_field_error(client, token_for, revrag):
    DoNotCallEntry.objects.create(phone_e164="+14155550171", reason="asked")
    agent = Agent.objects.filter(vendor_account=revrag).first()
    response = client.post(
        reverse("api_calls"),
        {"vendor_account": revrag.pk, "agent": agent.pk, "to_number": "+14155550171"},
        content_type="application/json",
        headers=auth(token_for("operator")),
    )
    assert response.status_code == 400
    assert "do-not-call" in response.json()["error"]["fields"]["to_number"][0]
    assert Call.objects.count() == 0


def test_it_lets_a_manager_read_but_not_trigger(client, token_for, revrag):
    headers = auth(token_for("manager"))
    assert client.get(reverse("api_calls"), headers=headers).status_code == 200
    response = client.post(
        reverse("api_calls"),
        {"vendor_account": revrag.pk, "agent": 1, "to_number": "+14155550172"},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_it_filters_like_the_page_and_pages_with_a_cursor(client, token_for):
    CallFactory(state=CallState.ENDED, recording_url="http://127.0.0.1:9/revrag/r.wav")
    CallFactory.create_batch(2, state=CallState.ENDED)
    CallFactory(state=CallState.FAILED)
    headers = auth(token_for("manager"))
    ended = client.get(reverse("api_calls") + "?state=ended&limit=2", headers=headers).json()
    assert len(ended["results"]) == 2
    assert all(call["state"] == "ended" for call in ended["results"])
    rest = client.get(ended["next"], headers=headers).json()
    assert len(rest["results"]) == 1
    with_recording = client.get(reverse("api_calls") + "?recording=true", headers=headers).json()
    assert [call["recording"] is not None for call in with_recording["results"]] == [True]


def test_it_answers_401_without_a_token_and_404_for_an_unknown_call(client, token_for):
    assert client.get(reverse("api_calls")).status_code == 401
    response = client.get(reverse("api_call", kwargs={"pk": 999}), headers=auth(token_for("admin")))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_requires_either_a_number_or_a_contact(client, token_for, revrag):
    response = client.post(
        reverse("api_calls"),
        {"vendor_account": revrag.pk, "agent": 1},
        content_type="application/json",
        headers=auth(token_for("operator")),
    )
    assert response.status_code == 400
    assert "either to_number or contact" in response.json()["error"]["message"]


def test_it_lists_agents_of_an_account(client, token_for, revrag):
    response = client.get(
        reverse("api_agents") + f"?account={revrag.pk}&active=true",
        headers=auth(token_for("operator")),
    )
    names = [agent["name"] for agent in response.json()["results"]]
    assert names and len(names) == Agent.objects.filter(vendor_account=revrag).count()


def test_it_lets_admins_list_and_replay_webhook_events(client, token_for):
    from tests.factories import WebhookEventFactory

    event = WebhookEventFactory()
    admin = auth(token_for("admin"))
    listed = client.get(reverse("api_webhook_events") + "?status=failed", headers=admin).json()
    assert [item["id"] for item in listed["results"]] == [event.pk]
    replay = client.post(reverse("api_webhook_replay", kwargs={"pk": event.pk}), headers=admin)
    assert replay.status_code == 202
    operator = auth(token_for("operator"))
    assert client.get(reverse("api_webhook_events"), headers=operator).status_code == 403


@pytest.mark.django_db
def test_it_gives_a_calls_conversation_metrics_in_its_detail(client, token_for):
    from calls.conversation_metrics import conversation_measure

    transcript = [
        {"speaker": "agent", "text": "Hello, this is Ada", "start": 0.0, "end": 2.0},
        {"speaker": "customer", "text": "Hi", "start": 3.0, "end": 4.0},
        {"speaker": "agent", "text": "Do you have a minute", "start": 6.0, "end": 8.0},
    ]
    call = CallFactory(state=CallState.ENDED, transcript=transcript)
    headers = auth(token_for("manager"))
    url = reverse("api_call", kwargs={"pk": call.pk})
    assert client.get(url, headers=headers).json()["conversation"] is None
    conversation_measure(call_id=call.pk)
    metrics = client.get(url, headers=headers).json()["conversation"]
    assert metrics["timed"] is True and metrics["turns"] == 3
    assert metrics["agent_first_word_seconds"] == 0.0
    # The agent answered the customer 2 s after they stopped.
    assert metrics["response_gap_p50_seconds"] == 2.0
    assert "call" not in metrics
