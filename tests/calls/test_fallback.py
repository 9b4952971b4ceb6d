"""A single call's fallback over real HTTP: while the chosen vendor's breaker is open, the call
goes through the fallback agent's account (page and API); otherwise as asked; bad fallbacks 400."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.fallback import FELL_BACK_FROM
from calls.models import Agent, Call
from calls.services import agents_sync
from tests.calls.test_api import auth, token_for  # noqa: F401 (a fixture)
from vendors import breaker
from vendors.errors import VendorError
from vendors.models import BreakerState
from vendors.services import vendor_client_for


@pytest.fixture
def two_vendors(make_account, sandbox):
    revrag, voice = make_account("revrag"), make_account("voice_platform")
    agents_sync(account=revrag)
    agents_sync(account=voice)
    return revrag, voice


def agent_of(account) -> Agent:
    return Agent.objects.filter(vendor_account=account, is_active=True).first()


def take_down(sandbox, account) -> None:
    """The vendor answers 503 to one request and its retries: the breaker opens. Then the
    vendor answers again: only the open breaker keeps callops away until its cool-down."""
    sandbox.faults(account.kind, fail_next=[503] * 10)
    with vendor_client_for(account) as client, pytest.raises(VendorError):
        client.list_agents()
    sandbox.faults(account.kind, fail_next=[])
    assert breaker.state_of(account.pk).state == BreakerState.OPEN


def place(client, secret, revrag, voice, number="+14155550190", **extra):
    body = {
        "vendor_account": revrag.pk,
        "agent": agent_of(revrag).pk,
        "to_number": number,
        "fallback_agent": agent_of(voice).pk,
        **extra,
    }
    return client.post(
        reverse("api_calls"), body, content_type="application/json", headers=auth(secret)
    )


def test_it_calls_through_the_fallback_while_the_vendor_is_down(
    client,
    token_for,  # noqa: F811
    two_vendors,
    sandbox,
    django_capture_on_commit_callbacks,
):
    revrag, voice = two_vendors
    take_down(sandbox, revrag)
    with django_capture_on_commit_callbacks(execute=True):
        answer = place(client, token_for("operator"), revrag, voice)

    assert answer.status_code == 201, answer.content
    call = Call.objects.get()
    assert (call.vendor_account, call.agent) == (voice, agent_of(voice))
    assert call.metadata[FELL_BACK_FROM] == revrag.pk
    assert len(sandbox.state("voice_platform")["calls"]) == 1
    assert sandbox.state("revrag")["calls"] == []


def test_it_calls_as_asked_while_the_vendor_answers(
    client,
    token_for,  # noqa: F811
    two_vendors,
    sandbox,
    django_capture_on_commit_callbacks,
):
    revrag, voice = two_vendors
    with django_capture_on_commit_callbacks(execute=True):
        answer = place(client, token_for("operator"), revrag, voice)

    assert answer.status_code == 201, answer.content
    call = Call.objects.get()
    assert call.vendor_account == revrag and FELL_BACK_FROM not in call.metadata
    assert len(sandbox.state("revrag")["calls"]) == 1
    assert sandbox.state("voice_platform")["calls"] == []


def test_it_refuses_a_fallback_on_the_same_account_or_unknown(client, token_for, two_vendors):  # noqa: F811
    revrag, _voice = two_vendors
    secret = token_for("operator")
    same = place(client, secret, revrag, revrag)
    unknown = place(client, secret, revrag, revrag, fallback_agent=999_999)
    assert same.status_code == 400
    fields = same.json()["error"]["fields"]
    assert fields["fallback_agent"] == ["The fallback agent must belong to another vendor account."]
    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"]["fallback_agent"] == ["No such object."]
    assert not Call.objects.exists()


def test_it_falls_back_from_the_new_call_page_and_says_so(client_as, two_vendors, sandbox):
    revrag, voice = two_vendors
    take_down(sandbox, revrag)
    operator = client_as("operator")
    form = operator.get(reverse("calls:new"), {"vendor_account": revrag.pk}).content.decode()
    assert "If this vendor is down, call through" in form
    assert f"{voice.name} · {agent_of(voice).name}" in form

    answer = operator.post(
        reverse("calls:new"),
        {
            "vendor_account": revrag.pk,
            "agent": agent_of(revrag).pk,
            "to_number": "+14155550191",
            "fallback_agent": agent_of(voice).pk,
        },
        follow=True,
    )

    assert answer.status_code == 200
    call = Call.objects.get()
    assert call.vendor_account == voice
    assert f"{revrag.name} is not answering: the call goes through {voice.name}" in (
        answer.content.decode()
    )
