"""Post-call rules against the sandbox: analysis, write-back and follow-up, each exactly once."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls import post_call
from calls.models import (
    Agent,
    Call,
    CallState,
    PostCallAction,
    PostCallRule,
    PostCallStep,
    StepStatus,
    WebhookEvent,
    WebhookStatus,
)
from calls.services import agents_sync, call_create, call_dispatch, call_sync
from calls.webhooks import webhook_process
from contacts.models import Contact
from tests.sandbox import SANDBOX_SPEED
from vendors.models import CircuitBreaker
from vendors.services import vendor_client_for

NUMBER = "+14155550161"


@pytest.fixture(autouse=True)
def _poll_at_once(settings):
    # The first poll waits 20 s by default; here results are a few hundred ms away.
    settings.CALLOPS_POST_CALL_FIRST_POLL_SECONDS = 0


@pytest.fixture
def voice(make_account, sandbox):
    account = make_account("voice_platform")
    agents_sync(account=account)
    return account


@pytest.fixture
def callcov(make_account):
    return make_account("callcov")


@pytest.fixture
def revor(make_account):
    return make_account("revor")


def revor_sender(revor_account, channel: str) -> str:
    """The sandbox's connected account that can send on this channel."""
    with vendor_client_for(revor_account) as client:
        return next(a.account_id for a in client.list_accounts(channel=channel) if a.can_send)


@pytest.fixture
def contact(db):
    return Contact.objects.create(
        name="Ada O'Brien",
        phone_e164=NUMBER,
        email="ada@example.com",
        linkedin_url="https://www.linkedin.com/in/ada-obrien",
        metadata={"plan": "Pro & more"},
    )


def make_rule(voice, *, callcov=None, revor=None, sender="", **fields) -> PostCallRule:
    defaults = {
        "name": "After every call",
        "vendor_account": voice,
        "analysis_account": callcov,
        "write_back": False,
        "follow_up_account": revor,
        "follow_up_sender": sender,
    }
    defaults.update(fields)
    return PostCallRule.objects.create(**defaults)


def ended_call(account, sandbox, *, contact=None, reason="completed") -> Call:
    sandbox.post(
        "script",
        {
            "vendor": "voice_platform",
            "outcomes": [{"reason": reason, "duration": 20, "ring_seconds": 1}],
        },
    )
    call, _ = call_create(
        vendor_account=account,
        agent=Agent.objects.filter(vendor_account=account).first(),
        to_number="" if contact else NUMBER,
        contact=contact,
    )
    call_dispatch(call_id=call.pk)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        call_sync(call_id=call.pk)
        call.refresh_from_db()
        if call.state == CallState.ENDED and call.recording_url:
            return call
        Call.objects.filter(pk=call.pk).update(next_sync_at=None)
        time.sleep(0.2)
    raise AssertionError(f"the call never ended ({call.state})")


def settle(call: Call, timeout: float = 20) -> list[PostCallStep]:
    """Do what beat does until every step is final: run the due steps again and again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call_id in post_call.calls_with_due_steps():
            post_call.post_call_run(call_id=call_id)
        steps = list(call.post_call_steps.order_by("position"))
        if steps and all(step.is_final for step in steps):
            return steps
        time.sleep(0.1)
    raise AssertionError(
        "steps never settled: "
        + ", ".join(f"{s.action}={s.status} {s.error}" for s in call.post_call_steps.all())
    )


def test_it_analyses_writes_back_and_follows_up_once_each(voice, callcov, revor, contact, sandbox):
    sandbox.post("script", {"vendor": "revor", "outcomes": [{"status": "succeeded"}]})
    rule = make_rule(
        voice,
        callcov=callcov,
        revor=revor,
        sender=revor_sender(revor, "email"),
        write_back=True,
        follow_up_channel="email",
        follow_up_subject="Thanks, {{ contact.first_name }}",
        follow_up_message="Hi {{ contact.name }}, your plan: {{ contact.metadata.plan }}.",
    )
    call = ended_call(voice, sandbox, contact=contact)

    assert post_call.post_call_plan(call_id=call.pk) == 3
    steps = settle(call)

    assert [(s.action, s.status) for s in steps] == [
        (PostCallAction.ANALYSE, StepStatus.DONE),
        (PostCallAction.WRITE_BACK, StepStatus.DONE),
        (PostCallAction.FOLLOW_UP, StepStatus.DONE),
    ]
    analysis, write_back, follow_up = steps
    assert analysis.result["status"] == "completed"
    assert analysis.result["results"]
    assert len(sandbox.state("callcov")["analyses"]) == 1
    # The write-back carries the analysis, so it ran after it.
    vendor_call = sandbox.log("voice_platform", method="POST", path_contains="/metadata")
    assert len({entry["idempotency_key"] for entry in vendor_call}) == 1
    assert write_back.request["metadata"]["analysis"]["id"] == analysis.vendor_ref
    assert write_back.request["metadata"]["callops_call_id"] == call.pk
    jobs = sandbox.state("revor")
    assert len(jobs["jobs"]) == 1
    assert jobs["jobs_by_status"]["succeeded"] == 1
    # Plain text, exactly as written: nothing escaped, nothing interpreted.
    assert follow_up.request["content"] == {
        "subject": "Thanks, Ada",
        "text": "Hi Ada O'Brien, your plan: Pro & more.",
    }
    assert follow_up.request["recipient"] == {"address": "ada@example.com"}
    messages = " ".join(call.events.values_list("message", flat=True))
    assert f"Post-call rule “{rule.name}” matched" in messages
    assert "Follow-up by Email done" in messages


def test_it_plans_a_call_once_however_often_it_is_asked(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    assert post_call.post_call_plan(call_id=call.pk) == 1
    assert post_call.post_call_plan(call_id=call.pk) == 0
    assert call.post_call_steps.count() == 1


def test_it_matches_rules_by_outcome_and_extracted_variable(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov, name="Not picked", outcomes=["not_picked"])
    make_rule(voice, callcov=callcov, name="Completed", outcomes=["completed"])
    make_rule(
        voice,
        callcov=callcov,
        name="Interested",
        variable_name="interested",
        variable_value=" YES ",
    )
    call = ended_call(voice, sandbox)
    # The sandbox asks for a callback in 3 calls of 10 (its words or a variable): this call
    # is a plain completed one, so only the rules under test decide.
    Call.objects.filter(pk=call.pk).update(
        extracted_variables={"interested": "yes"},
        transcript=[{"speaker": "agent", "text": "Thanks for your time, goodbye."}],
        common_outcome="completed",
    )
    post_call.post_call_plan(call_id=call.pk)
    assert sorted(call.post_call_steps.values_list("rule_name", flat=True)) == [
        "Completed",
        "Interested",
    ]


def test_it_leaves_calls_that_did_not_end_and_inactive_rules_alone(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov, is_active=False)
    call = ended_call(voice, sandbox)
    assert post_call.post_call_plan(call_id=call.pk) == 0
    failed = Call.objects.create(vendor_account=voice, to_number=NUMBER, state=CallState.FAILED)
    make_rule(voice, callcov=callcov, name="Active")
    assert post_call.post_call_plan(call_id=failed.pk) == 0


def test_it_skips_steps_that_cannot_apply_to_the_call(make_account, revor, sandbox):
    revrag = make_account("revrag")
    call = Call.objects.create(
        vendor_account=revrag,
        to_number=NUMBER,
        state=CallState.ENDED,
        outcome="completed",
        vendor_call_id="rr-1",
    )
    make_rule(
        revrag,
        revor=revor,
        sender=revor_sender(revor, "email"),
        write_back=True,
        follow_up_channel="email",
        follow_up_message="Hi",
    )
    post_call.post_call_plan(call_id=call.pk)
    steps = settle(call)
    assert [(s.status, s.error) for s in steps] == [
        (StepStatus.SKIPPED, "Only voice-platform calls take a metadata write-back."),
        (StepStatus.SKIPPED, "The contact has no email address."),
    ]
    assert sandbox.log("revor", method="POST") == []


def test_it_retries_a_vendor_outage_with_the_same_key_and_succeeds_once(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    sandbox.faults("callcov", error_rate=1.0, error_status=503)
    post_call.post_call_plan(call_id=call.pk)
    post_call.post_call_run(call_id=call.pk)
    step = call.post_call_steps.get()
    assert step.status == StepStatus.PENDING
    assert step.attempts == 1
    assert "try 2 of 5" in step.error
    assert step.next_attempt_at > timezone.now()

    sandbox.faults("callcov", error_rate=0.0)
    PostCallStep.objects.filter(pk=step.pk).update(next_attempt_at=timezone.now())
    # The 503 opened CallCov's circuit breaker: its cool-down is over by the retry, too.
    CircuitBreaker.objects.filter(account=callcov).update(open_until=timezone.now())
    settle(call)
    step.refresh_from_db()
    assert step.status == StepStatus.DONE
    keys = {e["idempotency_key"] for e in sandbox.log("callcov", method="POST")}
    assert keys == {str(step.idempotency_key)}
    assert len(sandbox.state("callcov")["analyses"]) == 1


def test_it_waits_for_the_rate_limit_without_using_an_attempt(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    sandbox.faults("callcov", burst_429=50)
    post_call.post_call_plan(call_id=call.pk)
    post_call.post_call_run(call_id=call.pk)
    step = call.post_call_steps.get()
    assert step.status == StepStatus.PENDING
    assert step.attempts == 0
    assert "Waiting for CallCov's rate limit until" in step.error


def test_it_fails_a_refused_follow_up_and_a_retry_by_hand_sends_a_new_request(
    voice, revor, contact, sandbox, make_user
):
    sandbox.post("script", {"vendor": "revor", "outcomes": [{"status": "succeeded"}]})
    rule = make_rule(
        voice,
        revor=revor,
        sender="no-such-sender",
        follow_up_channel="whatsapp",
        follow_up_message="Hello {{ contact.name }}",
    )
    call = ended_call(voice, sandbox, contact=contact)
    post_call.post_call_plan(call_id=call.pk)
    [step] = settle(call)
    assert step.status == StepStatus.FAILED
    assert step.error_permanent
    assert "connected account" in step.error
    first_key = step.idempotency_key

    rule.follow_up_sender = revor_sender(revor, "whatsapp")
    rule.save()
    post_call.post_call_step_retry(step_id=step.pk, user=make_user("olivia"))
    [step] = settle(call)
    assert step.status == StepStatus.DONE
    assert step.idempotency_key != first_key
    assert step.request["recipient"] == {"phone": NUMBER}
    assert "olivia retried" in " ".join(call.events.values_list("message", flat=True))


def test_it_refuses_to_retry_a_step_that_has_not_failed(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    post_call.post_call_plan(call_id=call.pk)
    step = call.post_call_steps.get()
    with pytest.raises(post_call.StepNotRetryable):
        post_call.post_call_step_retry(step_id=step.pk, user=None)


def test_it_gives_up_on_a_step_whose_worker_died_too_often(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    post_call.post_call_plan(call_id=call.pk)
    # Five claims whose workers never came back: in flight, lease long gone.
    PostCallStep.objects.filter(call=call).update(
        status=StepStatus.IN_FLIGHT,
        attempts=post_call.MAX_STEP_ATTEMPTS,
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    post_call.post_call_run(call_id=call.pk)
    step = call.post_call_steps.get()
    assert step.status == StepStatus.FAILED
    assert "never finished" in step.error
    assert sandbox.log("callcov", method="POST") == []


# --- results by webhook ------------------------------------------------------------------------


def deliver(client, account, body: bytes):
    url = reverse("webhook", kwargs={"vendor": account.kind, "token": account.webhook_token})
    return client.post(url, body, content_type="application/json")


def completed_analysis_body(sandbox, callcov, step: PostCallStep) -> bytes:
    """The object CallCov posts when the analysis is done (read from the sandbox)."""
    deadline = time.monotonic() + 10
    with vendor_client_for(callcov) as client:
        while time.monotonic() < deadline:
            analysis = client.get_analysis(step.vendor_ref)
            if analysis.status == "completed":
                return json.dumps(dict(analysis.raw)).encode()
            time.sleep(0.1)
    raise AssertionError("the sandbox never completed the analysis")


@pytest.fixture
def slow_callcov(sandbox):
    """CallCov analyses in 0.6–1.2 s instead of 60–120 ms: on a busy machine the faster
    analysis can finish before the submission's answer is read."""
    sandbox.post("config", {"vendor": "callcov", "speed": 5})
    yield
    sandbox.post("config", {"vendor": "callcov", "speed": SANDBOX_SPEED})


def test_it_completes_an_analysis_from_its_webhook_once(
    voice, callcov, sandbox, slow_callcov, client, django_capture_on_commit_callbacks
):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    post_call.post_call_plan(call_id=call.pk)
    post_call.post_call_run(call_id=call.pk)
    step = call.post_call_steps.get()
    assert step.status == StepStatus.WAITING
    body = completed_analysis_body(sandbox, callcov, step)

    with django_capture_on_commit_callbacks(execute=True):
        answers = [deliver(client, callcov, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert WebhookEvent.objects.filter(vendor_account=callcov).count() == 1
    step.refresh_from_db()
    assert step.status == StepStatus.DONE
    assert step.result["results"]
    assert call.events.filter(message__startswith="Analyse the recording done").count() == 1


def test_it_keeps_a_result_that_beats_the_submission_and_applies_it_by_its_metadata(
    voice, callcov, sandbox
):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    post_call.post_call_plan(call_id=call.pk)
    post_call.post_call_run(call_id=call.pk)
    step = call.post_call_steps.get()
    body = completed_analysis_body(sandbox, callcov, step)
    # As if the submission's answer had not been stored yet: only the metadata names the step.
    PostCallStep.objects.filter(pk=step.pk).update(vendor_ref="")
    event = WebhookEvent.objects.create(
        vendor_account=callcov, dedupe_key="early", headers={}, body=body.decode()
    )
    assert webhook_process(inbox_id=event.pk) == WebhookStatus.PROCESSED
    step.refresh_from_db()
    assert step.status == StepStatus.DONE
    assert step.vendor_ref == json.loads(body)["id"]


def test_it_keeps_an_unknown_analysis_and_replays_it_when_a_step_takes_its_id(
    voice, callcov, sandbox, django_capture_on_commit_callbacks
):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    post_call.post_call_plan(call_id=call.pk)
    post_call.post_call_run(call_id=call.pk)
    step = call.post_call_steps.get()
    body = json.loads(completed_analysis_body(sandbox, callcov, step))
    body["metadata"].pop("callops_step_id")
    PostCallStep.objects.filter(pk=step.pk).update(
        vendor_ref="", status=StepStatus.IN_FLIGHT, lease_until=timezone.now()
    )
    event = WebhookEvent.objects.create(
        vendor_account=callcov, dedupe_key="unknown", headers={}, body=json.dumps(body)
    )
    assert webhook_process(inbox_id=event.pk) == WebhookStatus.UNMATCHED

    # The worker records the submission's answer: the waiting result is replayed.
    with django_capture_on_commit_callbacks(execute=True):
        settle(call)
    event.refresh_from_db()
    step.refresh_from_db()
    assert step.status == StepStatus.DONE
    assert event.status == WebhookStatus.PROCESSED


def test_it_plans_ended_calls_whose_planning_was_lost(voice, callcov, sandbox):
    make_rule(voice, callcov=callcov)
    call = ended_call(voice, sandbox)
    Call.objects.filter(pk=call.pk).update(last_update_at=timezone.now() - timedelta(minutes=5))
    assert post_call.unplanned_ended_calls() == [call.pk]
    post_call.post_call_plan(call_id=call.pk)
    assert post_call.unplanned_ended_calls() == []
