"""What each post-call step asks its vendor, and what the vendor's answer means for the step.

calls/post_call.py plans the steps, claims one at a time and records what happened; this module
is the part in between: one request per action (CallCov analysis, the voice platform's metadata
write-back, Revor's follow-up and LinkedIn like) and the reading of a result by poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calls.models import (
    Call,
    CallEvent,
    EventSource,
    FollowUpChannel,
    PostCallAction,
    PostCallRule,
    PostCallStep,
    StepStatus,
)
from calls.templating import TemplateError, message_context, render
from contacts.selectors import is_on_do_not_call
from vendors.callcov.schemas import Analysis
from vendors.models import VendorAccount, VendorKind
from vendors.revor.schemas import Job
from vendors.services import vendor_client_for

ANALYSIS_DONE = {"completed"}
ANALYSIS_FAILED = {"failed"}
JOB_DONE = {"succeeded"}
JOB_FAILED = {"failed", "cancelled"}


class StepSkipped(Exception):
    """The step cannot apply to this call (no email address, not a voice-platform call)."""


class StepNotReady(Exception):
    """Not yet (no recording so far): tried again later like a transient failure."""


@dataclass(frozen=True)
class StepUpdate:
    """What acting on a step found: final, or accepted and waiting for a result."""

    status: str
    vendor_ref: str = ""
    vendor_status: str = ""
    result: dict[str, Any] | None = None
    error: str = ""
    # A failure the same request can never turn into a success (a manual retry gets a new key).
    permanent: bool = False


def step_event(call_id: int, message: str, *, data: dict[str, Any] | None = None) -> None:
    CallEvent.objects.create(
        call_id=call_id, source=EventSource.SYSTEM, message=message[:500], data=data or {}
    )


def submit_step(step: PostCallStep) -> StepUpdate:
    call = step.call
    account = step.vendor_account
    if account is None:
        raise StepSkipped("Its vendor account was deleted.")
    if not account.is_active:
        raise StepSkipped(f"{account} is disabled.")
    if step.action == PostCallAction.ANALYSE:
        return _submit_analysis(step, call, account)
    if step.action == PostCallAction.WRITE_BACK:
        return _submit_write_back(step, call, account)
    if step.action == PostCallAction.FOLLOW_UP:
        return _submit_follow_up(step, call, account)
    return _submit_like(step, call, account)


def _keep_request(step: PostCallStep, request: dict[str, Any]) -> dict[str, Any]:
    """The body of the first attempt is the body of every attempt (same key, same body)."""
    if step.request:
        return step.request
    PostCallStep.objects.filter(pk=step.pk).update(request=request)
    step.request = request
    return request


def _submit_analysis(step: PostCallStep, call: Call, account: VendorAccount) -> StepUpdate:
    if not call.recording_url:
        raise StepNotReady("The call has no recording yet.")
    request = _keep_request(
        step,
        {
            "audio_url": call.recording_url,
            "agent_id": call.agent.vendor_agent_id if call.agent else None,
            "contact_id": str(call.contact_id) if call.contact_id else None,
            "webhook_url": account.webhook_url,
            "metadata": {"callops_call_id": call.pk, "callops_step_id": step.pk},
        },
    )
    with vendor_client_for(account) as client:
        analysis = client.submit_analysis(**request, idempotency_key=str(step.idempotency_key))
    step_event(
        call.pk,
        f"Sent the recording to {account} for analysis (analysis {analysis.id}).",
    )
    return analysis_update(analysis)


def _vendor_object_update(
    *, ref: str, status: str, raw: Any, done: set[str], failed: set[str], error: str
) -> StepUpdate:
    """An analysis or a job as the step sees it: done, failed with `error`, or still waiting."""
    state = status.lower()
    if state in done:
        return StepUpdate(StepStatus.DONE, ref, status, dict(raw))
    if state in failed:
        return StepUpdate(StepStatus.FAILED, ref, status, dict(raw), error)
    return StepUpdate(StepStatus.WAITING, ref, status, dict(raw))


def analysis_update(analysis: Analysis) -> StepUpdate:
    return _vendor_object_update(
        ref=analysis.id,
        status=analysis.status,
        raw=analysis.raw,
        done=ANALYSIS_DONE,
        failed=ANALYSIS_FAILED,
        error=analysis.error_message or "CallCov could not analyse the recording.",
    )


def write_back_payload(call: Call) -> dict[str, Any]:
    """What callops writes into the voice platform's call metadata after the call."""
    payload: dict[str, Any] = {
        "callops_call_id": call.pk,
        "outcome": call.common_outcome,
        "disconnection_reason": call.vendor_outcome,
        "summary": call.summary,
        "extracted_variables": call.extracted_variables or {},
    }
    analysis = (
        PostCallStep.objects.filter(
            call=call, action=PostCallAction.ANALYSE, status=StepStatus.DONE
        )
        .order_by("-finished_at")
        .first()
    )
    if analysis is not None:
        results = analysis.result.get("results")
        payload["analysis"] = {
            "id": analysis.vendor_ref,
            "results": results if isinstance(results, dict) else {},
        }
    return payload


def _submit_write_back(step: PostCallStep, call: Call, account: VendorAccount) -> StepUpdate:
    if account.kind != VendorKind.VOICE_PLATFORM:
        raise StepSkipped("Only voice-platform calls take a metadata write-back.")
    if not call.vendor_call_id:
        raise StepSkipped("The vendor never gave this call an id.")
    request = _keep_request(step, {"metadata": write_back_payload(call)})
    with vendor_client_for(account) as client:
        client.write_call_metadata(
            call.vendor_call_id, request["metadata"], idempotency_key=str(step.idempotency_key)
        )
    return StepUpdate(StepStatus.DONE, vendor_status="written")


def _recipient(channel: str, call: Call) -> dict[str, str]:
    contact = call.contact
    if channel == FollowUpChannel.EMAIL:
        if not contact or not contact.email:
            raise StepSkipped("The contact has no email address.")
        return {"address": contact.email}
    if channel == FollowUpChannel.LINKEDIN:
        if not contact or not contact.linkedin_url:
            raise StepSkipped("The contact has no LinkedIn profile URL.")
        return {"profile_url": contact.linkedin_url}
    return {"phone": contact.phone_e164 if contact else call.to_number}


def follow_up_request(rule: PostCallRule, call: Call) -> dict[str, Any]:
    """The Revor dispatch for this rule and call, with the message rendered once."""
    channel = rule.follow_up_channel
    context = message_context(call)
    content: dict[str, Any] = {"text": render(rule.follow_up_message, context)}
    if channel == FollowUpChannel.EMAIL:
        content["subject"] = render(rule.follow_up_subject, context)
    return {
        "account_id": rule.follow_up_sender,
        "channel": channel,
        "recipient": _recipient(channel, call),
        "content": content,
        "metadata": {"callops_call_id": call.pk},
    }


def _rule_of(step: PostCallStep) -> PostCallRule:
    if step.rule is None:
        raise StepSkipped("Its rule was deleted before the step ran.")
    return step.rule


def _refuse_opted_out(call: Call) -> None:
    """The do-not-call list is read right before a message goes out: an opt-out heard since
    the step was planned (on any call) stops it."""
    if call.to_number and is_on_do_not_call(call.to_number):
        raise StepSkipped(f"{call.to_number} is on the do-not-call list: no follow-up is sent.")


def _submit_follow_up(step: PostCallStep, call: Call, account: VendorAccount) -> StepUpdate:
    _refuse_opted_out(call)
    request = step.request
    if not request:
        try:
            request = _keep_request(step, follow_up_request(_rule_of(step), call))
        except TemplateError as exc:
            raise StepSkipped(f"The message template is not valid: {exc}") from None
    with vendor_client_for(account) as client:
        job = client.dispatch(**request, idempotency_key=str(step.idempotency_key))
    step_event(call.pk, f"{step.label} queued at {account} (job {job.id}).")
    return _job_update(job)


def _submit_like(step: PostCallStep, call: Call, account: VendorAccount) -> StepUpdate:
    _refuse_opted_out(call)
    if not call.contact or not call.contact.linkedin_url:
        raise StepSkipped("The contact has no LinkedIn profile URL.")
    request = _keep_request(
        step,
        {"account_id": _rule_of(step).follow_up_sender, "profile_url": call.contact.linkedin_url},
    )
    with vendor_client_for(account) as client:
        job = client.like_post(**request, idempotency_key=str(step.idempotency_key))
    return _job_update(job)


def _job_update(job: Job) -> StepUpdate:
    return _vendor_object_update(
        ref=job.id,
        status=job.status,
        raw=job.raw,
        done=JOB_DONE,
        failed=JOB_FAILED,
        error=job.error.message if job.error else f"Revor says the job was {job.status}.",
    )


def poll_step(step: PostCallStep) -> StepUpdate:
    account = step.vendor_account
    if account is None:
        raise StepSkipped("Its vendor account was deleted.")
    with vendor_client_for(account) as client:
        if step.action == PostCallAction.ANALYSE:
            return analysis_update(client.get_analysis(step.vendor_ref))
        return _job_update(client.get_job(step.vendor_ref))
