"""The review queue: managers read, rate and tag ended calls one at a time."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Capability, requires
from calls import reviews
from calls.forms import CallFilterForm
from calls.models import Call, CallState
from calls.selectors import call_filter_options, call_transcript
from quality.scorecards import scoring_form

# --- Review queue --------------------------------------------------------------------------------

# Query-string keys that are the queue's own, not the call log's filters.
_QUEUE_KEYS = ("call", "status")


class ReviewForm(forms.Form):
    reviewed = forms.BooleanField(required=False, label="Reviewed")
    rating = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "No rating"), *((str(n), str(n)) for n in range(1, 6))],
        widget=forms.RadioSelect,
    )
    tags = forms.CharField(
        required=False,
        max_length=600,
        help_text="Separated by commas; earlier tags are suggested.",
    )
    note = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    # The queue's query string, so saving keeps the reviewer's filters.
    queue = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    # "next": the reviewer moves on after saving; "stay": the same call is shown again.
    then = forms.ChoiceField(
        required=False, choices=[("next", "next"), ("stay", "stay")], widget=forms.HiddenInput
    )


def _queue_query(data: QueryDict) -> QueryDict:
    query = data.copy()
    for key in _QUEUE_KEYS:
        query.pop(key, None)
    return query


def _queue_status(data: QueryDict) -> str:
    status = data.get("status", reviews.QueueStatus.TODO)
    valid = [value for value, _label in reviews.QueueStatus.CHOICES]
    return status if status in valid else reviews.QueueStatus.TODO


def _review_url(query: QueryDict, **extra: Any) -> str:
    query = query.copy()
    for key, value in extra.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return reverse("review") + (f"?{encoded}" if encoded else "")


def _call_id(data: QueryDict) -> int | None:
    value = data.get("call", "")
    return int(value) if value.isdigit() and len(value) < 12 else None


@requires(Capability.REVIEW_CALLS)
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """One ended call at a time, newest first, unreviewed by default; j/k move, r reviews."""
    filter_form = CallFilterForm(request.GET)
    status = _queue_status(request.GET)
    queue = reviews.review_queue(filters=filter_form.filters(), status=status)
    position = reviews.review_position(queue=queue, call_id=_call_id(request.GET))
    base = _queue_query(request.GET)
    base["status"] = status
    review = reviews.review_for(call=position.call) if position.call else None
    initial = {"queue": base.urlencode(), "then": "next"}
    if review is not None:
        initial.update(
            reviewed=review.is_reviewed,
            rating=str(review.rating) if review.rating else "",
            tags=", ".join(tag.name for tag in review.tags.all()),
            note=review.note,
        )
    context = {
        "filter_form": filter_form,
        "filtering": not filter_form.filters().is_empty or status != reviews.QueueStatus.TODO,
        "status": status,
        "statuses": reviews.QueueStatus.CHOICES,
        "options": call_filter_options(),
        "position": position,
        "call": position.call,
        "review": review,
        "form": ReviewForm(initial=initial),
        "transcript": call_transcript(call=position.call) if position.call else [],
        # The scorecard beside the transcript, as this reviewer left it or pre-filled.
        "scoring": scoring_form(call=position.call, reviewer=request.user)
        if position.call
        else None,
        "tag_names": reviews.review_tag_names(),
        "next_url": _review_url(base, call=position.next_id) if position.next_id else "",
        "previous_url": (
            _review_url(base, call=position.previous_id) if position.previous_id else ""
        ),
    }
    return render(request, "dashboard/review.html", context)


@requires(Capability.REVIEW_CALLS)
@require_POST
def review_save(request: HttpRequest, pk: int) -> HttpResponse:
    call = Call.objects.filter(pk=pk, state=CallState.ENDED).first()
    if call is None:
        raise Http404("No ended call with this id.")
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The review was not saved: " + form.errors.as_text())
        return redirect(_review_url(QueryDict(""), call=call.pk))
    data = form.cleaned_data
    reviews.review_save(
        call=call,
        reviewer=request.user,
        is_reviewed=data["reviewed"],
        rating=data["rating"],
        tags=reviews.parse_tags(data["tags"]),
        note=data["note"].strip(),
    )
    query = _queue_query(QueryDict(data["queue"]))
    query["status"] = _queue_status(QueryDict(data["queue"]))
    if data["then"] == "stay" or not data["reviewed"]:
        messages.success(request, f"Review of call {call.pk} saved.")
        return redirect(_review_url(query, call=call.pk))
    # Move on: the call after this one in the same queue (this one may have just left it).
    queue = reviews.review_queue(filters=CallFilterForm(query).filters(), status=query["status"])
    after = reviews.review_position(queue=queue, call_id=call.pk).next_id
    messages.success(request, f"Call {call.pk} reviewed.")
    return redirect(_review_url(query, call=after))
