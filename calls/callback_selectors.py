"""Reads of callbacks: the queue page, a campaign's and a contact's callbacks."""

from __future__ import annotations

from django.db.models import QuerySet

from calls.models import Callback, CallbackStatus

# The queue page's tabs: what each shows, in its order.
QUEUE_TABS: dict[str, tuple[str, tuple[str, ...]]] = {
    "needs_time": ("Needs a time", (CallbackStatus.NEEDS_TIME,)),
    "booked": ("Booked", (CallbackStatus.BOOKED,)),
    "closed": (
        "Dialled or cancelled",
        (CallbackStatus.DIALLED, CallbackStatus.CANCELLED, CallbackStatus.DISMISSED),
    ),
}


def _with_related(callbacks: QuerySet[Callback]) -> QuerySet[Callback]:
    return callbacks.select_related("contact", "campaign", "agent", "source_call", "call")


def callback_queue(*, tab: str) -> QuerySet[Callback]:
    """The callbacks of one queue tab: waiting ones oldest first, booked ones soonest first,
    closed ones latest first."""
    statuses = QUEUE_TABS[tab][1]
    callbacks = _with_related(Callback.objects.filter(status__in=statuses))
    if tab == "needs_time":
        return callbacks.order_by("created_at", "pk")
    if tab == "booked":
        return callbacks.order_by("due_at", "pk")
    return callbacks.order_by("-updated_at", "-pk")


def callback_counts() -> dict[str, int]:
    return {
        tab: Callback.objects.filter(status__in=statuses).count()
        for tab, (_label, statuses) in QUEUE_TABS.items()
    }


def callback_get(*, pk: int) -> Callback | None:
    return _with_related(Callback.objects.filter(pk=pk)).first()


def campaign_callbacks(*, campaign_id: int, limit: int = 50) -> list[Callback]:
    """A campaign's callbacks: open ones first (soonest first), then the latest closed."""
    callbacks = _with_related(Callback.objects.filter(campaign_id=campaign_id))
    open_ones = list(
        callbacks.filter(status__in=(CallbackStatus.NEEDS_TIME, CallbackStatus.BOOKED)).order_by(
            "due_at", "pk"
        )[:limit]
    )
    closed = list(
        callbacks.exclude(status__in=(CallbackStatus.NEEDS_TIME, CallbackStatus.BOOKED)).order_by(
            "-updated_at", "-pk"
        )[: max(limit - len(open_ones), 0)]
    )
    return open_ones + closed
