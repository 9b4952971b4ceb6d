"""The review queue: managers review ended calls; operators see reviews but cannot edit them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from calls.models import Call, CallOutcome, CallReview, CallState, CommonOutcome, ReviewTag
from calls.reviews import parse_tags
from tests.factories import CallFactory, CallReviewFactory

pytestmark = pytest.mark.django_db


def ended(minutes_ago: int, **fields) -> Call:
    fields.setdefault("outcome", CallOutcome.COMPLETED)
    call = CallFactory(state=CallState.ENDED, **fields)
    when = timezone.now() - timedelta(minutes=minutes_ago)
    Call.objects.filter(pk=call.pk).update(created_at=when)
    return call


@pytest.fixture
def calls():
    """Three ended calls (newest first: a, b, c), one running, one already reviewed."""
    return {
        "a": ended(1, summary="Newest call summary"),
        "b": ended(2),
        "c": ended(3),
        "running": CallFactory(state=CallState.RUNNING),
        "done": CallReviewFactory(call=ended(0)).call,
    }


def test_it_shows_the_newest_unreviewed_ended_call_first(client_as, calls):
    response = client_as("manager").get(reverse("review"))
    assert response.status_code == 200
    assert response.context["call"] == calls["a"]
    assert response.context["position"].remaining == 3
    assert "Newest call summary" in response.content.decode()
    assert response.context["next_url"].endswith(f"call={calls['b'].pk}")
    assert response.context["previous_url"] == ""


def test_it_moves_through_the_queue_with_links(client_as, calls):
    client = client_as("manager")
    page = client.get(reverse("review"), {"call": calls["b"].pk})
    assert page.context["call"] == calls["b"]
    assert page.context["previous_url"].endswith(f"call={calls['a'].pk}")
    assert page.context["next_url"].endswith(f"call={calls['c'].pk}")


def test_it_filters_the_queue_like_the_call_log(client_as, calls):
    other = ended(5, outcome=CallOutcome.VOICEMAIL, common_outcome=CommonOutcome.VOICEMAIL)
    response = client_as("manager").get(reverse("review"), {"outcome": "voicemail"})
    assert response.context["call"] == other
    assert response.context["position"].remaining == 1
    reviewed = client_as("manager").get(reverse("review"), {"status": "done"})
    assert reviewed.context["call"] == calls["done"]


def test_it_saves_an_attributed_review_and_moves_on(client_as, role_users, calls):
    client = client_as("manager")
    response = client.post(
        reverse("review_save", kwargs={"pk": calls["a"].pk}),
        {"reviewed": "on", "rating": "4", "tags": "Angry customer, follow-up", "note": "Fine."},
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"call={calls['b'].pk}")
    review = CallReview.objects.get(call=calls["a"])
    assert review.reviewer == role_users["manager"]
    assert review.is_reviewed
    assert review.reviewed_at is not None
    assert review.rating == 4
    assert sorted(tag.name for tag in review.tags.all()) == ["angry customer", "follow-up"]
    assert review.note == "Fine."
    # It left the default queue.
    assert client.get(reverse("review")).context["call"] == calls["b"]


def test_it_keeps_the_call_when_only_saving(client_as, calls):
    response = client_as("admin").post(
        reverse("review_save", kwargs={"pk": calls["b"].pk}),
        {"rating": "2", "then": "stay", "queue": "status=todo&outcome=completed"},
    )
    assert response["Location"].endswith(f"call={calls['b'].pk}")
    assert "outcome=completed" in response["Location"]
    review = CallReview.objects.get(call=calls["b"])
    assert (review.is_reviewed, review.reviewed_at, review.rating) == (False, None, 2)


def test_it_refuses_a_rating_outside_one_to_five(client_as, calls):
    client_as("manager").post(
        reverse("review_save", kwargs={"pk": calls["a"].pk}), {"rating": "7", "reviewed": "on"}
    )
    assert not CallReview.objects.filter(call=calls["a"]).exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        CallReview.objects.create(call=calls["b"], rating=6)


def test_it_only_reviews_ended_calls(client_as, calls):
    url = reverse("review_save", kwargs={"pk": calls["running"].pk})
    assert client_as("manager").post(url, {"reviewed": "on"}).status_code == 404


def test_it_suggests_existing_tags(client_as, calls):
    review = CallReviewFactory(call=ended(9))
    review.tags.add(ReviewTag.objects.create(name="needs coaching"))
    page = client_as("manager").get(reverse("review")).content.decode()
    assert 'list="review-tag-names"' in page
    assert '<datalist id="review-tag-names"><option value="needs coaching">' in page


def test_it_shows_the_keyboard_shortcuts(client_as, calls):
    page = client_as("manager").get(reverse("review")).content.decode()
    assert 'id="review-hint"' in page
    assert "<kbd>j</kbd> next call" in page
    assert "<kbd>r</kbd> mark reviewed" in page
    assert "js/review.js" in page


def test_it_says_when_nothing_is_left(client_as):
    page = client_as("manager").get(reverse("review")).content.decode()
    assert "Nothing to review" in page


def test_it_forbids_operators_to_review(client_as, calls):
    operator = client_as("operator")
    assert operator.get(reverse("review")).status_code == 403
    url = reverse("review_save", kwargs={"pk": calls["a"].pk})
    assert operator.post(url, {"reviewed": "on", "rating": "1"}).status_code == 403
    assert not CallReview.objects.filter(call=calls["a"]).exists()


def test_it_shows_operators_the_review_on_the_call_page(client_as, calls):
    review = CallReview.objects.get(call=calls["done"])
    review.note = "Great <b>call</b>"
    review.save()
    page = client_as("operator").get(reverse("calls:detail", kwargs={"pk": review.call_id}))
    text = page.content.decode()
    assert 'aria-label="Review"' in text
    assert "4 / 5" in text
    assert "Great &lt;b&gt;call&lt;/b&gt;" in text
    assert "review-form" not in text


def test_it_forbids_managers_to_trigger_calls(client_as):
    assert client_as("manager").post(reverse("calls:new"), {}).status_code == 403


def test_it_cleans_free_tags():
    assert parse_tags(" Angry  Customer, follow-up,angry customer,, ") == [
        "angry customer",
        "follow-up",
    ]
    assert len(parse_tags(",".join(f"t{n}" for n in range(30)))) == 10
