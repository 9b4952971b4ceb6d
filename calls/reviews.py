"""Call reviews: the review queue (selectors) and saving a review (services)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from calls.models import Call, CallReview, CallState, ReviewTag
from calls.selectors import CallFilters, call_list


class QueueStatus:
    TODO = "todo"
    DONE = "done"
    ALL = "all"
    CHOICES = ((TODO, "Not yet reviewed"), (DONE, "Reviewed"), (ALL, "All ended calls"))


MAX_TAGS = 10
MAX_TAG_LENGTH = 50
_TAG_SPACES = re.compile(r"\s+")


# --- Selectors -----------------------------------------------------------------------------------


def review_queue(*, filters: CallFilters | None = None, status: str = QueueStatus.TODO) -> QuerySet:
    """Ended calls matching the call log's filters, newest first; by default the unreviewed."""
    calls = call_list(filters=filters).filter(state=CallState.ENDED)
    if status == QueueStatus.TODO:
        calls = calls.exclude(review__is_reviewed=True)
    elif status == QueueStatus.DONE:
        calls = calls.filter(review__is_reviewed=True)
    return calls


@dataclass(frozen=True)
class QueuePosition:
    call: Call | None
    previous_id: int | None
    next_id: int | None
    remaining: int


def _after(call: Call) -> Q:
    return Q(created_at__lt=call.created_at) | Q(created_at=call.created_at, pk__lt=call.pk)


def _before(call: Call) -> Q:
    return Q(created_at__gt=call.created_at) | Q(created_at=call.created_at, pk__gt=call.pk)


def review_position(*, queue: QuerySet, call_id: int | None) -> QueuePosition:
    """The call to show and its neighbours in the queue (keyset on created_at, id).

    The asked call may have left the queue (it was just reviewed): it is shown anyway, and its
    neighbours are the queue's calls around where it was.
    """
    call = None
    if call_id is not None:
        call = (
            queue.model.objects.select_related("vendor_account", "agent", "contact", "campaign")
            .filter(pk=call_id, state=CallState.ENDED)
            .first()
        )
    if call is None:
        call = queue.first()
    remaining = queue.count()
    if call is None:
        return QueuePosition(call=None, previous_id=None, next_id=None, remaining=remaining)
    ids = queue.values_list("pk", flat=True)
    next_id = ids.filter(_after(call)).first()
    previous_id = ids.filter(_before(call)).order_by("created_at", "id").first()
    return QueuePosition(call=call, previous_id=previous_id, next_id=next_id, remaining=remaining)


def review_for(*, call: Call) -> CallReview | None:
    return CallReview.objects.select_related("reviewer").filter(call=call).first()


def review_tag_names(*, limit: int = 500) -> list[str]:
    """The tags used so far, for the form's <datalist> autocomplete."""
    return list(ReviewTag.objects.order_by("name").values_list("name", flat=True)[:limit])


def parse_tags(text: str) -> list[str]:
    """'Angry customer, follow-up ,angry customer' -> ['angry customer', 'follow-up']."""
    tags: list[str] = []
    for raw in text.split(","):
        tag = _TAG_SPACES.sub(" ", raw).strip().lower()[:MAX_TAG_LENGTH]
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]


# --- Services ------------------------------------------------------------------------------------


class ReviewRejected(ValueError):
    pass


@transaction.atomic
def review_save(
    *,
    call: Call,
    reviewer: Any,
    is_reviewed: bool,
    rating: int | None,
    tags: list[str],
    note: str,
) -> CallReview:
    """Create or update the call's review, attributed to `reviewer` (the last to save it)."""
    if call.state != CallState.ENDED:
        raise ReviewRejected("Only ended calls can be reviewed.")
    if rating is not None and not 1 <= rating <= 5:
        raise ReviewRejected("A rating is from 1 to 5.")
    review, _created = CallReview.objects.select_for_update().get_or_create(call=call)
    was_reviewed = review.is_reviewed
    review.reviewer = reviewer
    review.is_reviewed = is_reviewed
    if is_reviewed and not was_reviewed:
        review.reviewed_at = timezone.now()
    elif not is_reviewed:
        review.reviewed_at = None
    review.rating = rating
    review.note = note
    review.save()
    existing = {tag.name: tag for tag in ReviewTag.objects.filter(name__in=tags)}
    missing = [ReviewTag(name=name) for name in tags if name not in existing]
    ReviewTag.objects.bulk_create(missing, ignore_conflicts=True)
    review.tags.set(ReviewTag.objects.filter(name__in=tags))
    return review
