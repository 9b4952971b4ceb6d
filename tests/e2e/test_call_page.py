"""The call page in a real browser: the recording plays via callops, the transcript follows."""

from __future__ import annotations

import pytest

from calls.models import CallOutcome, CallState
from simulators.server import start
from tests.calls.test_recordings import place_sandbox_call
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import AgentFactory, CallFactory, VendorAccountFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOSTILE = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'


@pytest.fixture(scope="module")
def sandbox():
    box = start(port=0, speed=50, seed=11)
    yield box
    box.stop()


def ended_call_from_sandbox(sandbox):
    status = place_sandbox_call(sandbox, duration=60)
    account = VendorAccountFactory(base_url=sandbox.base_urls["revrag"])
    messages = status["transcription"]["messages"]
    transcript = [
        {
            "speaker": "agent" if message["role"] == "agent" else "customer",
            "text": message["content"],
            "start": message["start_time"],
            "end": message["end_time"],
        }
        for message in messages
    ]
    # Hostile text from the vendor must stay text in the browser.
    transcript[0] = {**transcript[0], "text": HOSTILE}
    return CallFactory(
        vendor_account=account,
        agent=AgentFactory(vendor_account=account),
        state=CallState.ENDED,
        outcome=CallOutcome.COMPLETED,
        vendor_outcome=status["disconnection_reason"],
        vendor_call_id=status["call_id"],
        duration_seconds=status["duration"],
        summary=status["summary"],
        transcript=transcript,
        recording_url=status["recording_url"],
    )


def test_it_plays_the_recording_and_follows_the_transcript(page, role_users, sandbox, screenshot):
    call = ended_call_from_sandbox(sandbox)
    sign_in(page, role_users["manager"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/calls/{call.pk}/")
    audio = page.locator("#call-audio")
    audio.wait_for()
    # Arrow functions, not expressions: the page's CSP forbids eval, which expressions need.
    page.wait_for_function("() => document.getElementById('call-audio').readyState >= 1")
    duration = page.evaluate("() => document.getElementById('call-audio').duration")
    assert duration == pytest.approx(call.duration_seconds, abs=1)

    # A turn in the second half of the call: clicking its time seeks the player there.
    turns = call.transcript
    target = next(i for i, turn in enumerate(turns) if turn["start"] > duration / 2)
    start = turns[target]["start"]
    page.locator(".transcript .turn").nth(target).locator(".turn-time").click()
    page.wait_for_function(
        "(start) => document.getElementById('call-audio').currentTime >= start - 0.05", arg=start
    )
    current = page.locator(".transcript .turn.is-current")
    assert current.count() == 1
    assert current.get_attribute("data-start") == f"{start:.3f}"
    assert current.get_attribute("aria-current") == "true"

    # Setting the time through the player moves the highlight too.
    later = turns[-1]["start"] + 0.1
    page.evaluate("(t) => { document.getElementById('call-audio').currentTime = t; }", later)
    page.wait_for_function(
        "() => document.querySelector('.transcript .turn:last-child')"
        ".classList.contains('is-current')"
    )

    # The hostile first turn is shown as text and never ran.
    assert page.locator(".transcript .turn").first.locator(".turn-text").inner_text() == HOSTILE
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator(".transcript img").count() == 0
    screenshot("call-page")
