"""Celery tasks for campaigns: thin, they take ids and call a service. Each is safe to overlap."""

from __future__ import annotations

from celery import shared_task

from campaigns import dispatch, native
from vendors.errors import VendorError

MAX_NATIVE_RETRIES = 10


@shared_task
def dispatch_paced_campaigns() -> int:
    """Beat (every 2 s): settle ended calls, then start the calls each running campaign may."""
    dispatch.record_outcomes()
    started = 0
    for campaign_id in dispatch.running_paced_campaign_ids():
        started += _dispatch(campaign_id)
    return started


@shared_task(ignore_result=True)
def dispatch_campaign_at_slot(campaign_id: int, slot: str = "") -> int:
    """Queued for the campaign's next pace slot (ETA): calls start on their absolute schedule,
    not at the beat's 2-second ticks. `slot` is the booked slot, which this run owns."""
    return _dispatch(campaign_id, booked=slot)


def _dispatch(campaign_id: int, *, booked: str = "") -> int:
    result = dispatch.dispatch_due(campaign_id)
    wake = dispatch.book_next_run(campaign_id, result, owned=booked)
    if wake is not None:
        dispatch_campaign_at_slot.apply_async((campaign_id, wake.isoformat()), eta=wake)
    dispatch.start_calls_now(result)
    return len(result.started)


@shared_task
def record_campaign_outcomes() -> int:
    """Beat: entries whose call has ended get their retry rule applied."""
    return dispatch.record_outcomes()


@shared_task(bind=True, max_retries=MAX_NATIVE_RETRIES)
def push_native_campaign(self, campaign_id: int) -> str:
    """Create, push (resuming from the last batch the vendor took) and launch."""
    try:
        return native.native_push(campaign_id=campaign_id)
    except VendorError as exc:
        if exc.permanent or self.request.retries >= MAX_NATIVE_RETRIES:
            native.native_failed(campaign_id=campaign_id, reason=str(exc))
            return "failed"
        raise self.retry(countdown=min(300, 15 * (self.request.retries + 1))) from None


@shared_task(bind=True, max_retries=MAX_NATIVE_RETRIES)
def stop_native_campaign(self, campaign_id: int) -> None:
    try:
        native.native_stop(campaign_id=campaign_id)
    except VendorError as exc:
        if exc.permanent or self.request.retries >= MAX_NATIVE_RETRIES:
            native.native_failed(campaign_id=campaign_id, reason=f"Stop failed: {exc}")
            return
        raise self.retry(countdown=min(300, 15 * (self.request.retries + 1))) from None


@shared_task
def sync_native_campaign(campaign_id: int) -> None:
    native.native_sync(campaign_id=campaign_id)


@shared_task
def sync_native_campaigns() -> int:
    """Beat: progress of running native campaigns from the vendor."""
    campaign_ids = native.native_campaign_ids_to_sync()
    for campaign_id in campaign_ids:
        sync_native_campaign.delay(campaign_id)
    return len(campaign_ids)
