from celery import shared_task

from analytics import summary_refresh


@shared_task
def refresh_analytics_summary() -> str:
    """Beat: recompute the analytics summary's hours that changed since the last run.

    Two runs at once are harmless (the second returns "busy"); a run that stops half-way loses
    nothing (its batch rolls back). It stops after 50 s, under the task time limits, and the next
    run carries on.
    """
    return str(summary_refresh.refresh_summary(max_seconds=50.0))
