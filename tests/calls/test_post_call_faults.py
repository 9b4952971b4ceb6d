"""Post-call steps under faults: every webhook delivered three times at once, workers killed
mid-request. Still exactly one analysis, one write-back and one follow-up at the sandbox."""

from __future__ import annotations

import time

import pytest

from calls.models import Agent, Call, CallState, PostCallRule, StepStatus, WebhookEvent
from calls.services import agents_sync, call_create
from dashboard.services import vendor_webhooks_register
from tests.calls.test_post_call import ended_call, revor_sender, settle
from tests.calls.test_worker_kill import HELD_SECONDS, LEASE_SECONDS, Workers, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "+14155550162"


def one_of_each(sandbox, call: Call) -> None:
    steps = list(call.post_call_steps.order_by("position"))
    assert [step.status for step in steps] == [StepStatus.DONE] * 3
    analysis, write_back, follow_up = steps
    assert len(sandbox.state("callcov")["analyses"]) == 1
    analysis_keys = {e["idempotency_key"] for e in sandbox.log("callcov", method="POST")}
    assert analysis_keys == {str(analysis.idempotency_key)}
    writes = sandbox.log("voice_platform", method="POST", path_contains="/metadata")
    assert {e["idempotency_key"] for e in writes} == {str(write_back.idempotency_key)}
    assert len(sandbox.state("revor")["jobs"]) == 1
    dispatches = sandbox.log("revor", method="POST")
    assert {e["idempotency_key"] for e in dispatches} == {str(follow_up.idempotency_key)}


def full_rule(voice, callcov, revor) -> PostCallRule:
    return PostCallRule.objects.create(
        name="Everything",
        vendor_account=voice,
        analysis_account=callcov,
        write_back=True,
        follow_up_account=revor,
        follow_up_sender=revor_sender(revor, "whatsapp"),
        follow_up_channel="whatsapp",
        follow_up_message="Thanks, {{ call.agent }} here.",
    )


def test_it_acts_once_when_every_webhook_arrives_three_times_at_once(
    make_account, sandbox, live_server, settings
):
    settings.CALLOPS_PUBLIC_URL = live_server.url
    settings.CALLOPS_POST_CALL_FIRST_POLL_SECONDS = 0
    voice, callcov, revor = (make_account(k) for k in ("voice_platform", "callcov", "revor"))
    agents_sync(account=voice)
    vendor_webhooks_register(account=voice)
    full_rule(voice, callcov, revor)
    sandbox.post("script", {"vendor": "revor", "outcomes": [{"status": "succeeded"}]})
    sandbox.post(
        "script",
        {"vendor": "voice_platform", "outcomes": [{"reason": "completed", "duration": 20}]},
    )
    for vendor in ("voice_platform", "callcov"):
        sandbox.faults(vendor, duplicate_webhooks=3)

    # Committed at once (transactional test): dispatched, then driven by the webhooks alone.
    call, _ = call_create(
        vendor_account=voice,
        agent=Agent.objects.filter(vendor_account=voice).first(),
        to_number=NUMBER,
    )
    wait_until(
        lambda: call.post_call_steps.filter(status=StepStatus.DONE).count() >= 2,
        timeout=30,
        what="the analysis result by webhook and the write-back",
    )
    call.refresh_from_db()
    assert call.state == CallState.ENDED
    settle(call)  # the Revor job has no webhook: beat polls it
    one_of_each(sandbox, call)
    # Three deliveries of one analysis result are one inbox row.
    assert WebhookEvent.objects.filter(vendor_account=callcov).count() == 1
    ended = call.events.filter(state_to=CallState.ENDED).count()
    assert ended == 1


@pytest.fixture
def workers(tmp_path):
    pool = Workers(tmp_path)
    # Nothing listens there: results come by polling, which these workers do when told.
    pool.env.update(
        CALLOPS_PUBLIC_URL="http://127.0.0.1:9",
        CALLOPS_POST_CALL_FIRST_POLL_SECONDS="0",
    )
    yield pool
    pool.stop_all()
    time.sleep(HELD_SECONDS + 0.5)  # let a killed worker's held request land in this test


def kill_when(workers, worker, condition, what: str) -> None:
    wait_until(condition, timeout=40, what=what)
    time.sleep(0.5)  # the sandbox holds its answer for HELD_SECONDS: kill inside that window
    workers.kill(worker)


def test_it_acts_once_when_workers_die_mid_request(make_account, sandbox, workers):
    voice, callcov, revor = (make_account(k) for k in ("voice_platform", "callcov", "revor"))
    agents_sync(account=voice)
    sandbox.post("script", {"vendor": "revor", "outcomes": [{"status": "succeeded"}]})
    call = ended_call(voice, sandbox)  # ends before the rule exists: nothing planned in here
    full_rule(voice, callcov, revor)
    Call.objects.filter(pk=call.pk).update(post_call_planned_at=None)

    # 1. Killed after CallCov created the analysis, before its answer was recorded.
    sandbox.faults("callcov", latency_after_create_ms=HELD_SECONDS * 1000)
    worker = workers.start()
    workers.send("calls.tasks.plan_post_call", call.pk)
    kill_when(
        workers,
        worker,
        lambda: len(sandbox.state("callcov")["analyses"]) == 1,
        "CallCov to create the analysis",
    )
    sandbox.faults("callcov", latency_after_create_ms=0)

    # 2. The next worker takes the step over after its lease, and is killed after Revor
    # created the follow-up job.
    sandbox.faults("revor", latency_after_create_ms=HELD_SECONDS * 1000)
    worker = workers.start()
    time.sleep(LEASE_SECONDS + 0.5)

    def beat_until(condition) -> bool:
        workers.send("calls.tasks.advance_post_call")
        time.sleep(0.5)
        return condition()

    kill_when(
        workers,
        worker,
        lambda: beat_until(lambda: len(sandbox.state("revor")["jobs"]) == 1),
        "Revor to create the job",
    )
    sandbox.faults("revor", latency_after_create_ms=0)

    # 3. A last worker finishes the work.
    workers.start()
    time.sleep(LEASE_SECONDS + 0.5)
    wait_until(
        lambda: beat_until(lambda: all(step.is_final for step in call.post_call_steps.all())),
        timeout=60,
        what="every step to finish",
    )
    one_of_each(sandbox, call)
    # Taken over once after the kill, with the same key: CallCov answered with the first.
    assert call.post_call_steps.get(action="analyse").attempts == 2
