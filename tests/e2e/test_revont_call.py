"""A human rep's call from Revont in a real browser: its recording plays and the transcript
names the rep and the customer; a recording the vendor no longer has says so."""

from __future__ import annotations

import pytest

from calls.models import Call
from calls.revont_import import revont_import
from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import VendorAccountFactory
from vendors.models import VendorKind

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def sandbox():
    box = start(port=0, speed=50, seed=23)
    yield box
    box.stop()


@pytest.fixture
def revont_calls(sandbox):
    account = VendorAccountFactory(
        kind=VendorKind.REVONT,
        base_url=sandbox.base_urls["revont"],
        api_key=sandbox.api_keys["revont"],
    )
    assert revont_import(account=account) > 0
    return Call.objects.filter(vendor_account=account).exclude(transcript=[])


def test_it_plays_a_revont_recording_with_rep_and_customer_labels(
    page, role_users, revont_calls, screenshot
):
    call = revont_calls.first()
    sign_in(page, role_users["manager"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/calls/{call.pk}/")
    page.wait_for_function("() => document.getElementById('call-audio').readyState >= 1")
    duration = page.evaluate("() => document.getElementById('call-audio').duration")
    assert duration == pytest.approx(call.duration_seconds, abs=1)

    labels = page.locator(".transcript .turn-who").all_inner_texts()
    rep, prospect = call.metadata["rep_name"], call.metadata["prospect_name"]
    assert any(label.startswith("Rep") and rep in label for label in labels)
    assert any(label.startswith("Customer") and prospect in label for label in labels)
    assert not any(label.startswith("Agent") for label in labels)
    screenshot("revont-call")


def test_it_says_why_a_recording_cannot_play(page, role_users, revont_calls):
    call = revont_calls.first()
    # Still on the vendor's own host (so callops asks), but a recording it does not have.
    call.recording_url = call.recording_url.rsplit("/", 1)[0] + "/gone.wav"
    call.save(update_fields=["recording_url"])
    sign_in(page, role_users["manager"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/calls/{call.pk}/")
    problem = page.locator(".recording-problem")
    problem.wait_for(state="visible")
    assert problem.inner_text() == "The vendor no longer has this recording."
    assert page.locator("#call-audio").is_hidden()
