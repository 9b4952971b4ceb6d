"""The concurrency governor: live calls per vendor account and in total, for every worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from calls import governor
from calls.models import Agent, Call, CallState
from calls.services import ConcurrencyLimitReached, agents_sync, call_create
from campaigns.dispatch import dispatch_due
from campaigns.models import CampaignStatus, DialEntry, DialState
from campaigns.services import campaign_transition
from dashboard.services import api_token_create
from tests.calls.test_api import auth
from tests.campaigns.test_dispatcher import audience, make_campaign
from tests.factories import CallFactory
from tests.sandbox import REPO_ROOT
from vendors.models import VendorAccount


@pytest.fixture
def revrag(make_account):
    account = make_account("revrag")
    agents_sync(account=account)
    return account


def agent_of(account: VendorAccount) -> Agent:
    return Agent.objects.filter(vendor_account=account, is_active=True).first()


def test_it_refuses_a_single_call_over_the_accounts_limit(revrag, sandbox):
    revrag.max_live_calls = 2
    revrag.save()
    CallFactory.create_batch(2, vendor_account=revrag, state=CallState.RUNNING)
    CallFactory(vendor_account=revrag, state=CallState.ENDED)
    CallFactory(vendor_account=revrag, state=CallState.RUNNING, is_stale=True)
    assert governor.headroom(revrag) == 0
    with pytest.raises(ConcurrencyLimitReached) as refused:
        call_create(vendor_account=revrag, agent=agent_of(revrag), to_number="+14155550100")
    assert "already has 2 live calls" in refused.value.message
    assert Call.objects.filter(to_number="+14155550100").count() == 0

    Call.objects.filter(vendor_account=revrag, state=CallState.RUNNING).update(
        state=CallState.ENDED
    )
    call, _created = call_create(
        vendor_account=revrag, agent=agent_of(revrag), to_number="+14155550100"
    )
    assert call.pk


def test_it_refuses_over_the_total_limit_across_accounts(revrag, make_account, settings):
    settings.CALLOPS_MAX_LIVE_CALLS = 1
    voice = make_account("voice_platform")
    CallFactory(vendor_account=voice, state=CallState.QUEUED)
    assert governor.headroom(revrag) == 0
    with pytest.raises(ConcurrencyLimitReached) as refused:
        call_create(vendor_account=revrag, agent=agent_of(revrag), to_number="+14155550101")
    assert "across all vendors" in refused.value.message


def test_the_form_and_the_api_say_why_a_call_is_over_the_limit(revrag, client_as, sandbox):
    revrag.max_live_calls = 1
    revrag.save()
    CallFactory(vendor_account=revrag, state=CallState.RUNNING)
    agent = agent_of(revrag)
    operator = client_as("operator")
    page = operator.post(
        reverse("calls:new"),
        {"vendor_account": revrag.pk, "agent": agent.pk, "to_number": "+1 415 555 0102"},
    )
    assert "already has 1 live call, its limit" in page.content.decode()

    user = page.wsgi_request.user
    token = api_token_create(name="t", role=Role.OPERATOR, created_by=user).plaintext
    response = operator.post(
        reverse("api_calls"),
        {"vendor_account": revrag.pk, "agent": agent.pk, "to_number": "+14155550102"},
        content_type="application/json",
        headers=auth(token),
    )
    assert response.status_code == 400
    assert "its limit" in json.dumps(response.json())
    assert Call.objects.filter(to_number="+14155550102").count() == 0


def test_a_paced_campaign_waits_at_the_limit_and_dials_when_a_call_ends(revrag, sandbox):
    sandbox.set_rate_limit("revrag", 6000, 60)
    revrag.max_live_calls = 1
    revrag.rate_limits = {"default": 6000}
    revrag.save()
    now = timezone.now()
    contacts = audience(now)["dial"][:3]
    campaign = make_campaign(revrag, contacts, calls_per_minute=60, max_concurrent_calls=5)
    busy = CallFactory(
        vendor_account=revrag, state=CallState.RUNNING, contact=None, to_number="+14159990000"
    )
    campaign_transition(campaign_id=campaign.pk, action="launch")

    result = dispatch_due(campaign.pk, now=now)
    assert result.started == []
    assert result.reason == "live-call limit"
    assert result.next_slot_at is None
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert DialEntry.objects.filter(campaign=campaign, state=DialState.PENDING).count() == 3

    Call.objects.filter(pk=busy.pk).update(state=CallState.ENDED)
    result = dispatch_due(campaign.pk, now=now + timedelta(seconds=1))
    assert len(result.started) == 1


def test_two_workers_never_pass_the_limit_together(transactional_db, sandbox):
    account = VendorAccount(
        kind="revrag", name="Governed", base_url=sandbox.vendors["revrag"].base_url
    )
    account.set_api_key(sandbox.vendors["revrag"].api_key)
    account.max_live_calls = 5
    account.save()
    agents_sync(account=account)
    agent = agent_of(account)

    environment = {**os.environ, "CALLOPS_TEST_DB_NAME": str(connection.settings_dict["NAME"])}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.calls.governor_worker",
                str(account.pk),
                str(agent.pk),
                str(1000 + 100 * index),
                "6",
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.3
    for worker in workers:
        worker.stdin.write(f"{start_at}\n")
        worker.stdin.flush()
    tallies = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]

    assert sum(tally["created"] for tally in tallies) == 5
    assert sum(tally["refused"] for tally in tallies) == 7
    assert all(tally["created"] > 0 for tally in tallies), "both workers took part"
    assert Call.objects.filter(vendor_account=account).count() == 5
    # Every written call reached the vendor: the slots were real calls, not leftovers.
    assert len(sandbox.log("revrag", method="POST")) == 5
