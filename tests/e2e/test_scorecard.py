"""A reviewer scores a call with the keyboard alone: every scorecard item is reached by Tab,
answered with the arrow keys and space, and the score is saved with the reviewer."""

from __future__ import annotations

import pytest

from calls.models import CallState, PostCallAction, PostCallStep, StepStatus
from quality.models import CallScore, ItemKind, ItemSource
from quality.scorecards import ItemSpec, current_version, scorecard_save
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import CallFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ITEMS = [
    ItemSpec(
        label="Verifies identity",
        kind=ItemKind.PASS_FAIL,
        weight=3,
        critical=True,
        source=ItemSource.CALLCOV_COMPLIANCE,
        source_key="identity_verification",
    ),
    ItemSpec(label="Polite", kind=ItemKind.SCALE),
    ItemSpec(label="Mentions the offer", kind=ItemKind.PASS_FAIL, allows_na=True),
]


def focused(page) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.name ? e.name + '=' + e.value : e.textContent.trim(); }"
    )


def test_a_reviewer_scores_every_item_by_keyboard(page, role_users, screenshot):
    scorecard, _ = scorecard_save(scorecard=None, name="Sales QA", items=ITEMS, user=None)
    identity, polite, offer = current_version(scorecard).items.all()
    call = CallFactory(
        state=CallState.ENDED,
        transcript=[{"speaker": "agent", "text": "Hello", "start": 0.0, "end": 1.0}],
    )
    PostCallStep.objects.create(
        call=call,
        rule_name="Analyse",
        action=PostCallAction.ANALYSE,
        status=StepStatus.DONE,
        result={"results": {"compliance": {"identity_verification": {"passed": False}}}},
    )
    manager = role_users["manager"]
    sign_in(page, manager.username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/review/?status=all&call={call.pk}")
    assert page.get_by_text("Suggested: CallCov: Identity verification failed").is_visible()
    assert page.locator(f'input[name="item-{identity.pk}"][value="0"]').is_checked()

    # Start from the review form's last button and walk on with Tab alone.
    page.locator("#review-form button[value='stay']").focus()
    page.keyboard.press("Tab")
    # The pre-filled item: focus lands on its suggestion (Fail); the reviewer overrides it.
    assert focused(page) == f"item-{identity.pk}=0"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Tab")
    assert focused(page) == f"item-{polite.pk}=1"
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    assert focused(page) == f"item-{offer.pk}=1"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    assert focused(page) == "Save score"
    screenshot("scorecard-keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**call={call.pk}#scorecard")
    assert page.get_by_text(f"Call {call.pk} scored").is_visible()

    score = CallScore.objects.get(call=call)
    assert score.reviewer == manager
    answers = {a.item_id: (a.value, a.auto_value) for a in score.answers.all()}
    assert answers == {identity.pk: (1, 0), polite.pk: (4, None), offer.pk: (None, None)}
    # (3 × pass + 1 × 0.75) / 4, the N/A item left out.
    assert score.score == pytest.approx(93.8)
