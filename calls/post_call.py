"""After the call: match post-call rules against an ended call, then run their steps.

Each step is an outbox row (`PostCallStep`, after pretix's habit): a worker claims it with a
conditional UPDATE, acts outside any transaction with the step's own idempotency key, and
records what happened. So a webhook delivered three times, two planners at once or a worker
killed mid-request still make the vendor act once:

- planning locks the call and makes at most one step per call, rule and action;
- a step is claimed by one worker at a time (a lease; when it expires the step is taken over
  and the request repeated with the same idempotency key, which the vendor answers with the
  first result);
- results (the analysis webhook, a poll) apply only to a step that is not final yet.

Within one rule the steps run in order: analysis, write-back, follow-up, LinkedIn like, so the
write-back can carry the analysis. A failed or skipped step does not block the next.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from calls import enqueue
from calls.callbacks import callback_book
from calls.models import (
    FINAL_STEP_STATUSES,
    Call,
    CallEvent,
    CallState,
    EventSource,
    FollowUpChannel,
    PostCallAction,
    PostCallRule,
    PostCallStep,
    StepStatus,
)
from calls.opt_out import record_opt_out
from calls.outcomes import translate_outcome_names
from calls.post_call_actions import (
    StepNotReady,
    StepSkipped,
    StepUpdate,
    analysis_update,
    poll_step,
    step_event,
    submit_step,
)
from vendors.callcov.schemas import Analysis
from vendors.errors import VendorConflict, VendorError, VendorNotFound, VendorRateLimited
from vendors.models import VendorAccount

logger = logging.getLogger(__name__)


def step_lease() -> timedelta:
    """How long a worker owns a step it acts on; a killed worker's step is taken over after.
    The same lease as dispatching a call: both cover one vendor request with its retries."""
    return timedelta(seconds=settings.CALLOPS_DISPATCH_LEASE_SECONDS)


# Transient failures (5xx, timeouts, no recording yet) are retried this many times in all.
MAX_STEP_ATTEMPTS = 5
RETRY_BASE_SECONDS = 30
# Results are polled (the webhook is the fast path) first after
# settings.CALLOPS_POST_CALL_FIRST_POLL_SECONDS, then less often as they take longer...
MAX_POLL_INTERVAL = timedelta(minutes=15)
# ...and given up on: CallCov keeps idempotency keys 24 h; Revor may schedule a message up to
# a day ahead (min_channel_task_interval_seconds ≤ 86400) and then retry it.
GIVE_UP_WAITING = {
    PostCallAction.ANALYSE: timedelta(hours=24),
    PostCallAction.FOLLOW_UP: timedelta(hours=72),
    PostCallAction.LIKE_POST: timedelta(hours=72),
}
# Ended calls whose planning message was lost are planned by the sweeper for this long.
PLAN_SWEEP_WINDOW = timedelta(hours=24)

ACTION_VENDOR = {
    PostCallAction.ANALYSE: "CallCov",
    PostCallAction.WRITE_BACK: "the voice platform",
    PostCallAction.FOLLOW_UP: "Revor",
    PostCallAction.LIKE_POST: "Revor",
}


def step_label(step: PostCallStep) -> str:
    return step.label


# ------------------------------------------------------------------------------------ planning


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def rule_matches(rule: PostCallRule, call: Call) -> bool:
    # Rules speak the common outcomes (calls.outcomes); an older name still stored in one
    # (calls/migrations/0013 translated those it found) counts as the names it became.
    if rule.outcomes and call.common_outcome not in translate_outcome_names(rule.outcomes):
        return False
    if rule.variable_name:
        extracted = call.extracted_variables if isinstance(call.extracted_variables, dict) else {}
        if rule.variable_name not in extracted or extracted[rule.variable_name] is None:
            return False
        wanted = rule.variable_value.strip().casefold()
        return _text(extracted[rule.variable_name]).strip().casefold() == wanted
    return True


def rule_scope(call: Call) -> Q:
    """The rules that may apply to a call: its vendor account's and its campaign's."""
    scope = Q(vendor_account_id=call.vendor_account_id)
    if call.campaign_id:
        scope |= Q(campaign_id=call.campaign_id)
    return scope


def rules_for_call(call: Call) -> list[PostCallRule]:
    rules = PostCallRule.objects.filter(rule_scope(call), is_active=True).order_by("pk")
    return [rule for rule in rules if rule_matches(rule, call)]


def _step_account_id(rule: PostCallRule, action: str, call: Call) -> int | None:
    if action == PostCallAction.ANALYSE:
        return rule.analysis_account_id
    if action == PostCallAction.WRITE_BACK:
        return call.vendor_account_id
    return rule.follow_up_account_id


def post_call_plan(*, call_id: int) -> int:
    """Match the rules once against an ended call and write its steps; returns how many."""
    made = 0
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call_id)
        if call.state != CallState.ENDED or call.post_call_planned_at is not None:
            return 0
        for rule in rules_for_call(call):
            actions = rule.actions
            for position, action in enumerate(actions):
                _, created = PostCallStep.objects.get_or_create(
                    call=call,
                    rule=rule,
                    action=action,
                    defaults={
                        "rule_name": rule.name,
                        "position": position,
                        "vendor_account_id": _step_account_id(rule, action, call),
                    },
                )
                made += created
            if actions:
                labels = ", ".join(PostCallAction(action).label.lower() for action in actions)
                step_event(call.pk, f"Post-call rule “{rule.name}” matched: {labels}.")
        call.post_call_planned_at = timezone.now()
        call.save(update_fields=["post_call_planned_at"])
        # After the steps exist, so an opt-out heard on this call cancels its own follow-ups.
        record_opt_out(call_id=call.pk)
        callback_book(call=call)
        if made:
            transaction.on_commit(lambda: enqueue_run(call_id))
    return made


def enqueue_run(call_id: int) -> None:
    enqueue.run_post_call(call_id)


def enqueue_plan(call_id: int) -> None:
    enqueue.plan_post_call(call_id)


def unplanned_ended_calls(*, limit: int = 200) -> list[int]:
    """Ended calls never matched against the rules (their planning message was lost)."""
    now = timezone.now()
    return list(
        Call.objects.filter(
            state=CallState.ENDED,
            post_call_planned_at__isnull=True,
            last_update_at__gte=now - PLAN_SWEEP_WINDOW,
            last_update_at__lte=now - timedelta(seconds=30),
        ).values_list("pk", flat=True)[:limit]
    )


def calls_with_due_steps(*, limit: int = 200) -> list[int]:
    """Calls with a step to act on now: due, waiting to be polled, or left by a dead worker."""
    now = timezone.now()
    due = (
        Q(status=StepStatus.PENDING, next_attempt_at__isnull=True)
        | Q(status__in=[StepStatus.PENDING, StepStatus.WAITING], next_attempt_at__lte=now)
        | Q(status=StepStatus.IN_FLIGHT, lease_until__lte=now)
    )
    ids = (
        PostCallStep.objects.filter(due)
        .order_by("call_id")
        .values_list("call_id", flat=True)
        .distinct()[:limit]
    )
    return list(ids)


# ------------------------------------------------------------------------------------ running


def post_call_run(*, call_id: int, max_steps: int = 20) -> int:
    """Act on every step of the call that may run now, in rule order; returns how many.

    Safe to run in several workers at once: each step is claimed before anything is sent.
    """
    acted = 0
    while acted < max_steps:
        step = _claim_next(call_id)
        if step is None:
            return acted
        _act(step)
        acted += 1
    return acted


def _runnable(steps: list[PostCallStep], now: datetime) -> list[PostCallStep]:
    """The first unfinished step of each rule, when it is due."""
    firsts: dict[Any, PostCallStep] = {}
    for step in steps:
        group = step.rule_id if step.rule_id is not None else ("deleted", step.rule_name)
        if group in firsts or step.status in FINAL_STEP_STATUSES:
            continue
        firsts[group] = step
    due = []
    for step in firsts.values():
        if step.status == StepStatus.PENDING:
            ready = step.next_attempt_at is None or step.next_attempt_at <= now
        elif step.status == StepStatus.IN_FLIGHT:
            ready = step.lease_until is None or step.lease_until <= now
        else:  # waiting: poll when due
            ready = step.next_attempt_at is not None and step.next_attempt_at <= now
        if ready:
            due.append(step)
    return due


def _claim_next(call_id: int) -> PostCallStep | None:
    now = timezone.now()
    steps = list(PostCallStep.objects.filter(call_id=call_id).order_by("rule_id", "position", "id"))
    for step in _runnable(steps, now):
        lease = now + step_lease()
        # Conditional UPDATEs: of two workers that read the same due step, one wins.
        if step.status == StepStatus.WAITING:
            # A poll is not an attempt: push the next poll back while this one runs.
            claimed = PostCallStep.objects.filter(
                pk=step.pk, status=StepStatus.WAITING, next_attempt_at__lte=now
            ).update(next_attempt_at=lease, lease_until=lease)
        else:
            due = (
                Q(status=StepStatus.PENDING, next_attempt_at__isnull=True)
                | Q(status=StepStatus.PENDING, next_attempt_at__lte=now)
                | Q(status=StepStatus.IN_FLIGHT, lease_until__isnull=True)
                | Q(status=StepStatus.IN_FLIGHT, lease_until__lte=now)
            )
            claimed = PostCallStep.objects.filter(due, pk=step.pk).update(
                status=StepStatus.IN_FLIGHT, lease_until=lease, attempts=F("attempts") + 1
            )
        if not claimed:
            continue
        claimed_step = PostCallStep.objects.select_related(
            "call__vendor_account",
            "call__contact",
            "call__agent",
            "call__campaign",
            "vendor_account",
            "rule",
        ).get(pk=step.pk)
        if (
            claimed_step.status == StepStatus.IN_FLIGHT
            and claimed_step.attempts > MAX_STEP_ATTEMPTS
        ):
            # Killed mid-request again and again: stop instead of looping for ever.
            _record(
                claimed_step,
                StepUpdate(
                    StepStatus.FAILED,
                    error=f"Gave up after {MAX_STEP_ATTEMPTS} attempts that never finished.",
                ),
            )
            continue
        return claimed_step
    return None


def _act(step: PostCallStep) -> None:
    polling = step.status == StepStatus.WAITING
    try:
        update = poll_step(step) if polling else submit_step(step)
    except StepSkipped as skipped:
        _record(step, StepUpdate(StepStatus.SKIPPED, error=str(skipped)))
    except StepNotReady as not_ready:
        _retry_or_fail(step, str(not_ready), permanent=False)
    except VendorRateLimited as exc:
        _rate_limited(step, exc)
    except VendorNotFound as exc:
        if polling:
            _record(step, StepUpdate(StepStatus.FAILED, error=f"{exc.message} ({exc.status})"))
        else:
            _retry_or_fail(step, exc.message or str(exc), permanent=True)
    except VendorConflict as exc:
        message = exc.message or str(exc)
        if exc.is_idempotency_conflict:
            message = (
                f"{message}: the vendor already has a different request under this step's key."
            )
        _retry_or_fail(step, message, permanent=True)
    except VendorError as exc:
        if polling:
            _poll_later(step, f"Could not read the result: {exc.message or exc}")
        else:
            _retry_or_fail(step, exc.message or str(exc), permanent=exc.permanent)
    else:
        _record(step, update)


# --- recording what happened ---------------------------------------------------------------------


def _poll_interval(step: PostCallStep, now: datetime) -> timedelta:
    first = timedelta(seconds=settings.CALLOPS_POST_CALL_FIRST_POLL_SECONDS)
    waited = now - step.created_at
    return min(MAX_POLL_INTERVAL, max(first, waited / 4))


def _record(step: PostCallStep, update: StepUpdate) -> None:
    """Store a step's outcome, unless it became final meanwhile (a webhook was faster)."""
    now = timezone.now()
    with transaction.atomic():
        locked = PostCallStep.objects.select_for_update().filter(pk=step.pk).first()
        if locked is None or locked.status in FINAL_STEP_STATUSES:
            return
        if update.status == StepStatus.WAITING:
            give_up = GIVE_UP_WAITING.get(locked.action)
            if give_up and now - locked.created_at > give_up:
                update = StepUpdate(
                    StepStatus.FAILED,
                    update.vendor_ref,
                    update.vendor_status,
                    update.result,
                    f"No final result after {give_up.total_seconds() / 3600:.0f} h.",
                )
        first_wait = update.status == StepStatus.WAITING and locked.status != StepStatus.WAITING
        locked.status = update.status
        if update.vendor_ref:
            locked.vendor_ref = update.vendor_ref[:100]
        if update.vendor_status:
            locked.vendor_status = update.vendor_status[:32]
        if update.result is not None:
            locked.result = update.result
        locked.error = update.error[:500]
        locked.error_permanent = update.permanent
        locked.lease_until = None
        if update.status == StepStatus.WAITING:
            locked.next_attempt_at = now + _poll_interval(locked, now)
        else:
            locked.next_attempt_at = None
            locked.finished_at = now
        locked.save()
        if locked.status in FINAL_STEP_STATUSES:
            step_event(locked.call_id, _final_message(locked), data={"step": locked.pk})
        if first_wait and locked.action == PostCallAction.ANALYSE:
            _replay_unmatched_results(locked)
        # The next step of the rule may run now.
        transaction.on_commit(lambda: enqueue_run(locked.call_id))


def _final_message(step: PostCallStep) -> str:
    label = step_label(step)
    rule = f" (rule “{step.rule_name}”)"
    if step.status == StepStatus.DONE:
        return f"{label} done{rule}."
    if step.status == StepStatus.SKIPPED:
        return f"{label} skipped{rule}: {step.error}"
    return f"{label} failed{rule}: {step.error}"


def _backoff(attempts: int) -> timedelta:
    seconds = RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter


def _retry_or_fail(step: PostCallStep, message: str, *, permanent: bool) -> None:
    now = timezone.now()
    attempts = PostCallStep.objects.values_list("attempts", flat=True).get(pk=step.pk)
    if permanent or attempts >= MAX_STEP_ATTEMPTS:
        if not permanent:
            message = f"Gave up after {attempts} attempts: {message}"
        _record(step, StepUpdate(StepStatus.FAILED, error=message, permanent=permanent))
        return
    retry_at = now + _backoff(attempts)
    PostCallStep.objects.filter(pk=step.pk, status=StepStatus.IN_FLIGHT).update(
        status=StepStatus.PENDING,
        next_attempt_at=retry_at,
        lease_until=None,
        error=f"{message[:400]} (try {attempts + 1} of {MAX_STEP_ATTEMPTS} at "
        f"{timezone.localtime(retry_at):%H:%M:%S})",
    )


def _rate_limited(step: PostCallStep, exc: VendorRateLimited) -> None:
    """The budget is spent: wait for the vendor's time; that wait is not an attempt."""
    retry_at = exc.retry_at or timezone.now() + timedelta(seconds=30)
    PostCallStep.objects.filter(pk=step.pk, status=StepStatus.IN_FLIGHT).update(
        status=StepStatus.PENDING,
        next_attempt_at=retry_at,
        lease_until=None,
        attempts=F("attempts") - 1,
        error=f"Waiting for {ACTION_VENDOR[step.action]}'s rate limit until "
        f"{timezone.localtime(retry_at):%H:%M:%S}.",
    )


def _poll_later(step: PostCallStep, message: str) -> None:
    now = timezone.now()
    PostCallStep.objects.filter(pk=step.pk, status=StepStatus.WAITING).update(
        next_attempt_at=now + _poll_interval(step, now), lease_until=None, error=message[:500]
    )


# ------------------------------------------------------------------------ results by webhook


def analysis_result_apply(*, account: VendorAccount, analysis: Analysis) -> bool:
    """A CallCov webhook brought an analysis: store it on its step. False when no step of this
    account has it (yet); the inbox keeps the event and replays it when a step learns the id."""
    step = _step_for_analysis(account, analysis)
    if step is None:
        return False
    _record(step, analysis_update(analysis))
    return True


def _step_for_analysis(account: VendorAccount, analysis: Analysis) -> PostCallStep | None:
    steps = PostCallStep.objects.filter(vendor_account=account, action=PostCallAction.ANALYSE)
    step = steps.filter(vendor_ref=analysis.id).first()
    if step is not None:
        return step
    # The webhook can beat the submission's answer: the metadata callops sent names the step.
    step_id = analysis.metadata.get("callops_step_id")
    if isinstance(step_id, int) and not isinstance(step_id, bool):
        return steps.filter(pk=step_id, vendor_ref__in=["", analysis.id]).first()
    return None


def _replay_unmatched_results(step: PostCallStep) -> None:
    from calls.webhooks import unmatched_webhooks_for, webhook_replay

    for inbox_id in unmatched_webhooks_for(
        account_id=step.vendor_account_id, vendor_call_id=step.vendor_ref
    ):
        webhook_replay(inbox_id=inbox_id)


# ------------------------------------------------------------------------------- by hand


class StepNotRetryable(ValueError):
    pass


def post_call_step_retry(*, step_id: int, user: Any) -> PostCallStep:
    """Run a failed or skipped step again. A fresh idempotency key when the vendor already
    answered for good (a new request is wanted); the same key after transient failures, in
    case the vendor did act on one of them."""
    with transaction.atomic():
        step = PostCallStep.objects.select_for_update().get(pk=step_id)
        if step.status not in (StepStatus.FAILED, StepStatus.SKIPPED):
            raise StepNotRetryable("Only a failed or skipped step can be retried.")
        fresh_key = (
            step.error_permanent or bool(step.vendor_ref) or step.status == StepStatus.SKIPPED
        )
        if fresh_key:
            step.idempotency_key = uuid.uuid4()
            step.request = {}
        step.status = StepStatus.PENDING
        step.attempts = 0
        step.next_attempt_at = None
        step.lease_until = None
        step.vendor_ref = ""
        step.vendor_status = ""
        step.error = ""
        step.error_permanent = False
        step.finished_at = None
        step.save()
        who = getattr(user, "username", "") or "callops"
        CallEvent.objects.create(
            call_id=step.call_id,
            source=EventSource.USER,
            message=f"{who} retried: {step_label(step)} (rule “{step.rule_name}”).",
        )
        transaction.on_commit(lambda: enqueue_run(step.call_id))
    return step


# ------------------------------------------------------------------------------------ rules


def post_call_rule_save(*, rule: PostCallRule, user: Any) -> PostCallRule:
    """Save a rule from its form. It applies to calls that end from now on."""
    if rule.pk is None:
        rule.created_by = user if getattr(user, "pk", None) else None
    if rule.follow_up_channel != FollowUpChannel.EMAIL:
        rule.follow_up_subject = ""
    rule.save()
    return rule


def post_call_rule_delete(*, rule: PostCallRule) -> None:
    """Delete a rule. Its steps stay on their calls under the rule's name; a follow-up whose
    message was not rendered yet is skipped when it comes up."""
    rule.delete()
