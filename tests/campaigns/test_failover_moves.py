"""Failover beyond the due dials, over real HTTP against the sandbox:

- calls already written for an arm when its vendor goes down move, unsent, to the backup arm;
  a call the first vendor may have received stays (and never reaches the second);
- an arm whose rate budget cannot start a call before the next slot spills it to its backup;
- the governor's pre-check counts every arm's vendor account, so one full account holds back
  its own arm only.
"""

from __future__ import annotations

import socket
import time
from collections import Counter

import pytest
from django.utils import timezone

from calls import services
from calls.models import Call, CallState
from calls.sending import claim_for_dispatch
from campaigns.dispatch import dispatch_due
from campaigns.models import DialEntry, DialState
from tests.campaigns.test_arms import agent_of, contacts, script, two_vendors  # noqa: F401
from tests.campaigns.test_dispatcher import run_until, zone_at_local_hour
from tests.campaigns.test_failover import backed_up_campaign, finished, launch_all_in_arm_a
from vendors import breaker
from vendors.models import BreakerState

dialling = pytest.mark.django_db(transaction=True)
ENDS_SOON = {"reason": "AGENT_HANGUP", "duration": 20, "ring_seconds": 1}


@pytest.fixture
def dispatch_queue(monkeypatch) -> list[int]:
    """The calls' dispatch tasks wait in this queue, as behind a busy worker, until a test
    runs them with `run_queue` (the real service, over HTTP)."""
    queued: list[int] = []
    monkeypatch.setattr(services, "_enqueue_dispatch", queued.append)
    monkeypatch.setattr("calls.enqueue.dispatch_call", queued.append)
    return queued


def run_queue(queued: list[int]) -> None:
    while queued:
        try:
            services.call_dispatch(call_id=queued.pop(0))
        except services.RetryLater:
            continue


def write_calls(campaign, count: int) -> list[Call]:
    deadline = time.monotonic() + 20
    while Call.objects.filter(campaign=campaign).count() < count:
        assert time.monotonic() < deadline, "the dispatcher did not write the calls"
        dispatch_due(campaign.pk)
        time.sleep(0.1)
    return list(Call.objects.filter(campaign=campaign).order_by("pk"))


def closed_port_url() -> str:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{closed.getsockname()[1]}"


def numbers_at(sandbox, account) -> list[str]:
    """The numbers of the calls the sandbox's vendor has placed, read through callops' calls
    with those vendor ids ("?" for a call the vendor has that callops has no id for)."""
    ids = sandbox.state(account.kind)["calls"]
    known = dict(
        Call.objects.filter(vendor_account=account, vendor_call_id__in=ids).values_list(
            "vendor_call_id", "to_number"
        )
    )
    return [known.get(vendor_call_id, "?") for vendor_call_id in ids]


# ------------------------------------------------------------------ calls already written


@dialling
@pytest.mark.parametrize("fault", ["503", "connection refused"])
def test_it_moves_calls_written_for_an_arm_whose_vendor_went_down_to_its_backup(
    two_vendors,  # noqa: F811
    sandbox,
    dispatch_queue,
    fault,
):
    revrag, voice = two_vendors
    revrag.breaker_failure_threshold = 1
    revrag.save()
    campaign = backed_up_campaign(two_vendors, contacts(4, zone_at_local_hour(6, timezone.now())))
    script(sandbox, ENDS_SOON, 4)
    launch_all_in_arm_a(campaign)
    first, *waiting = write_calls(campaign, 4)
    assert {call.vendor_account_id for call in [first, *waiting]} == {revrag.pk}
    # Revrag goes down as the first call is sent: the breaker opens, the rest never went.
    if fault == "503":
        sandbox.faults("revrag", fail_next=[503] * 10)
    else:
        revrag.base_url = closed_port_url()
        revrag.save()
    with pytest.raises(services.RetryLater):
        services.call_dispatch(call_id=first.pk, single_try=True)
    assert breaker.state_of(revrag.pk).state == BreakerState.OPEN

    result = dispatch_due(campaign.pk)
    run_queue(dispatch_queue)

    assert result.moved == 4
    arm_a, arm_b = campaign.arms.order_by("position")
    for call in Call.objects.filter(campaign=campaign):
        assert call.vendor_account_id == voice.pk and call.agent_id == agent_of(voice).pk
        assert call.metadata["spilled_from_arm_id"] == arm_a.pk
        assert call.metadata["campaign_arm_id"] == arm_b.pk
        assert call.vendor_call_id and call.state != CallState.FAILED
        assert call.events.filter(message__startswith=f"Moved from {revrag.name}").exists()
    # Each contact reached one vendor once: the voice platform; Revrag placed nothing.
    assert numbers_at(sandbox, revrag) == []
    dialled = DialEntry.objects.filter(campaign=campaign).values_list("phone_e164", flat=True)
    assert Counter(numbers_at(sandbox, voice)) == Counter(dialled)
    for entry in DialEntry.objects.filter(campaign=campaign):
        assert entry.attempts == 1 and entry.arm_id == arm_a.pk  # one attempt, its own arm
    run_until(campaign, finished(campaign), timeout=30)


@dialling
def test_it_leaves_a_call_the_first_vendor_may_have_received_where_it_is(
    two_vendors,  # noqa: F811
    sandbox,
    dispatch_queue,
):
    revrag, voice = two_vendors
    revrag.breaker_failure_threshold = 1
    revrag.save()
    campaign = backed_up_campaign(two_vendors, contacts(2, zone_at_local_hour(6, timezone.now())))
    script(sandbox, ENDS_SOON, 2)
    launch_all_in_arm_a(campaign)
    sent, unsent = write_calls(campaign, 2)
    # Revrag creates the first call, then the connection drops before its answer: callops
    # cannot tell whether it was placed, and the failure opens the breaker.
    sandbox.faults("revrag", drop_after_create=1)
    with pytest.raises(services.RetryLater):
        services.call_dispatch(call_id=sent.pk, single_try=True)
    assert breaker.state_of(revrag.pk).state == BreakerState.OPEN

    result = dispatch_due(campaign.pk)
    run_queue(dispatch_queue)

    assert result.moved == 1
    sent.refresh_from_db()
    unsent.refresh_from_db()
    assert sent.vendor_account_id == revrag.pk and sent.state == CallState.PENDING
    assert "spilled_from_arm_id" not in sent.metadata
    assert unsent.vendor_account_id == voice.pk and unsent.vendor_call_id
    assert numbers_at(sandbox, revrag) == ["?"]  # placed, its id lost with the connection
    assert numbers_at(sandbox, voice) == [unsent.to_number]
    # When Revrag is back, the first call's retry (same idempotency key) finds the call it
    # placed: the contact is still called once.
    breaker.breaker_reset(revrag.pk)
    services.call_dispatch(call_id=sent.pk)
    sent.refresh_from_db()
    assert sent.vendor_call_id
    assert numbers_at(sandbox, revrag) == [sent.to_number]


@dialling
@pytest.mark.parametrize("backup", [True, False])
def test_it_does_not_move_a_call_a_worker_is_sending_nor_one_without_a_backup(
    two_vendors,  # noqa: F811
    sandbox,
    dispatch_queue,
    backup,
):
    revrag, _voice = two_vendors
    zone = zone_at_local_hour(6, timezone.now())
    campaign = backed_up_campaign(two_vendors, contacts(2, zone), backup=backup)
    launch_all_in_arm_a(campaign)
    being_sent, failed_once = write_calls(campaign, 2)
    assert claim_for_dispatch(being_sent.pk) is not None  # a worker holds its dispatch lease
    sandbox.faults("revrag", fail_next=[503])
    with pytest.raises(services.RetryLater):
        services.call_dispatch(call_id=failed_once.pk, single_try=True)
    assert breaker.state_of(revrag.pk).state == BreakerState.OPEN

    # With a backup, the call that failed moves, not the one being sent; without, none.
    assert dispatch_due(campaign.pk).moved == (1 if backup else 0)
    being_sent.refresh_from_db()
    failed_once.refresh_from_db()
    assert being_sent.vendor_account_id == revrag.pk
    assert (failed_once.vendor_account_id == revrag.pk) is not backup


# ----------------------------------------------------------------------- rate budget


@dialling
def test_it_spills_dials_to_the_backup_while_the_arms_rate_budget_is_spent(
    two_vendors,  # noqa: F811
    sandbox,
):
    revrag, voice = two_vendors
    # Revrag's budget: 3 requests an hour (2 usable), one of them taken by the agents' sync.
    sandbox.set_rate_limit("revrag", 6000, 3600)
    revrag.rate_limits = {"default": {"limit": 3, "window_seconds": 3600}}
    revrag.save()
    campaign = backed_up_campaign(two_vendors, contacts(6, zone_at_local_hour(6, timezone.now())))
    script(sandbox, ENDS_SOON, 6)
    launch_all_in_arm_a(campaign)

    def all_placed() -> bool:  # (Revrag's calls are not synced: its budget is spent)
        return Call.objects.filter(campaign=campaign).exclude(vendor_call_id="").count() == 6

    started = time.monotonic()
    run_until(campaign, all_placed, timeout=30)

    # No dial waited for Revrag's window (an hour) nor earned a 429: the rest went to arm B.
    assert time.monotonic() - started < 30
    revrag_numbers, voice_numbers = numbers_at(sandbox, revrag), numbers_at(sandbox, voice)
    assert 1 <= len(revrag_numbers) <= 2
    assert len(revrag_numbers) + len(voice_numbers) == 6
    assert len(set(revrag_numbers) | set(voice_numbers)) == 6  # each contact once
    assert not [entry for entry in sandbox.log("revrag") if entry.get("status") == 429]
    arm_a, arm_b = campaign.arms.order_by("position")
    spilled = Call.objects.filter(campaign=campaign, vendor_account=voice)
    assert spilled.count() == len(voice_numbers)
    for call in spilled:
        assert call.metadata["spilled_from_arm_id"] == arm_a.pk
        assert call.metadata["campaign_arm_id"] == arm_b.pk
    assert not Call.objects.filter(campaign=campaign, events__message__contains="rate limit")


# ------------------------------------------------------------------------- governor


@dialling
def test_it_dials_the_other_arm_while_one_arms_account_is_at_its_live_call_limit(
    two_vendors,  # noqa: F811
    sandbox,
):
    revrag, voice = two_vendors
    revrag.max_live_calls = 1
    revrag.save()
    Call.objects.create(vendor_account=revrag, to_number="+14155550199", state=CallState.RUNNING)
    campaign = backed_up_campaign(two_vendors, contacts(4, zone_at_local_hour(6, timezone.now())))
    script(sandbox, ENDS_SOON, 4)
    launch_all_in_arm_a(campaign)
    arm_a, arm_b = campaign.arms.order_by("position")
    entries = list(DialEntry.objects.filter(campaign=campaign).order_by("pk"))
    # The first two (claimed first) are arm A's, on the full account; the others arm B's.
    DialEntry.objects.filter(pk__in=[entry.pk for entry in entries[2:]]).update(arm=arm_b)

    deadline = time.monotonic() + 15
    while Call.objects.filter(campaign=campaign).count() < 2 and time.monotonic() < deadline:
        dispatch_due(campaign.pk)
        time.sleep(0.1)
    for _ in range(3):  # and nothing more while Revrag's account stays full
        dispatch_due(campaign.pk)
        time.sleep(0.3)

    calls = Call.objects.filter(campaign=campaign)
    assert calls.count() == 2 and {call.vendor_account_id for call in calls} == {voice.pk}
    assert sorted(numbers_at(sandbox, voice)) == sorted(entry.phone_e164 for entry in entries[2:])
    for entry in DialEntry.objects.filter(arm=arm_a):
        assert entry.state == DialState.PENDING and entry.attempts == 0
