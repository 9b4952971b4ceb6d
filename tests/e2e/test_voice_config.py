"""An operator configures the voice platform in a real browser against the sandbox: a flow and
an AI agent (then the agent's page and the new-call form), and a speaker voice taken from
created to samples uploaded to deployed, watched through the page."""

from __future__ import annotations

import re
import wave

import pytest
from django.core.cache import cache

from calls.models import Agent, CallOutcome, CallState
from simulators.server import start
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import CallFactory, ContactFactory
from vendors.models import Speaker, VendorAccount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def voice_account():
    # The free-humans badge reads a shared cache: start from nothing cached.
    cache.clear()
    sandbox = start(port=0, speed=50, seed=3)
    account = VendorAccount(
        name="Voice (sandbox)", kind="voice_platform", base_url=sandbox.base_urls["voice_platform"]
    )
    account.set_api_key(sandbox.api_keys["voice_platform"])
    account.save()
    yield account
    sandbox.stop()


def wav_file(tmp_path, name: str):
    path = tmp_path / name
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x10\x00" * 8000)
    return path


def test_it_creates_a_flow_and_an_agent_then_shows_its_page(
    page, role_users, voice_account, screenshot
):
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    # The layout's badge: free humans at the voice platform, loaded by htmx.
    page.locator("#human-agents").get_by_text("3 humans free").wait_for()

    page.goto("/calls/agents/")
    page.get_by_role("link", name="New flow").click()
    page.get_by_label("Name", exact=False).fill("Renewal flow")
    page.get_by_label("Flow definition (JSON)").fill('{"steps": [{"say": "Hello"}]}')
    page.get_by_role("button", name="Create flow").click()
    page.locator(".toast").get_by_text("Flow Renewal flow created").wait_for()

    # The agent form comes with the new flow chosen; a typo in the JSON is caught first.
    assert "Renewal flow" in page.get_by_label("Flow").locator("option:checked").inner_text()
    page.get_by_label("Name", exact=False).fill("Renewals bot")
    page.get_by_label("Voice", exact=True).fill("alloy")
    page.get_by_label("Language").fill("en")
    page.get_by_label("Other settings (JSON)").fill('{"prompt": "Renew, politely"')
    page.get_by_role("button", name="Create agent").click()
    page.get_by_text("This is not valid JSON").wait_for()
    page.get_by_label("Other settings (JSON)").fill('{"prompt": "Renew, politely"}')
    page.get_by_role("button", name="Create agent").click()

    page.wait_for_url(re.compile(r"/calls/agents/\d+/"))
    agent = Agent.objects.get(name="Renewals bot")
    page.get_by_role("heading", name="Renewals bot").wait_for()
    assert agent.vendor_agent_id in page.locator(".facts").inner_text()
    assert "en / alloy" in page.locator(".facts").inner_text()

    # Its page shows its figures once it has calls.
    for seconds in (60, 120):
        CallFactory(
            vendor_account=voice_account,
            agent=agent,
            state=CallState.ENDED,
            outcome=CallOutcome.COMPLETED,
            duration_seconds=seconds,
        )
    page.reload()
    assert page.locator(".kpi").first.inner_text().startswith("2")
    assert "1 min 30 s" in page.locator(".kpis").inner_text()
    screenshot("agent-page")

    # Usable at once: the new-call form offers it.
    page.goto("/calls/new/")
    page.get_by_label("Vendor account").select_option(label=voice_account.name)
    page.wait_for_function("() => !document.getElementById('nc-agent').disabled")
    assert "Renewals bot" in page.locator("#nc-agent").inner_text()


def test_it_takes_a_speaker_voice_from_created_to_deployed(
    page, role_users, voice_account, screenshot, tmp_path
):
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto("/calls/agents/")
    page.get_by_role("link", name="Speaker voices").click()
    page.get_by_role("link", name="New speaker voice").first.click()
    page.get_by_label("Name", exact=False).fill("ada")
    page.get_by_label("Language").fill("en")
    page.get_by_role("button", name="Create speaker").click()

    page.wait_for_url(re.compile(r"/calls/agents/speakers/\d+/"))
    state = page.locator("#speaker-status [data-speaker-state]")
    assert state.get_attribute("data-speaker-state") == "created"
    assert page.get_by_role("button", name="Deploy").count() == 0  # no samples yet

    page.get_by_label("Audio samples").set_input_files(
        [wav_file(tmp_path, "take-1.wav"), wav_file(tmp_path, "take-2.wav")]
    )
    page.get_by_role("button", name="Upload samples").click()
    page.locator(".toast").get_by_text("2 samples uploaded").wait_for()
    assert page.locator("[data-sample-count]").inner_text() == "2"
    assert "take-2.wav" in page.locator("table").first.inner_text()
    screenshot("speaker-samples")

    page.get_by_role("button", name="Deploy").click()
    page.locator(".toast").get_by_text("ada is deploying").wait_for()
    # The status panel polls the vendor (through callops) and the page settles when deployed.
    page.locator('#speaker-status [data-speaker-state="deployed"]').wait_for(timeout=20_000)
    page.get_by_text("Ready: agents can use it as their voice").wait_for()
    speaker = Speaker.objects.get(name="ada")
    assert speaker.status == "deployed" and speaker.samples == 2
    screenshot("speaker-deployed")

    page.goto("/calls/agents/speakers/")
    assert "Deployed" in page.locator("table").inner_text()
    # A deployed speaker is offered as a voice for a new agent.
    page.goto("/calls/agents/new/")
    assert "Deployed speaker voices: ada." in page.content()


def test_it_refuses_a_file_that_is_not_audio_before_sending_it(
    page, role_users, voice_account, tmp_path
):
    Speaker.objects.create(vendor_account=voice_account, name="bea")
    speaker = Speaker.objects.get(name="bea")
    fake = tmp_path / "notes.wav"
    fake.write_bytes(b"these are notes, not a recording")
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/calls/agents/speakers/{speaker.pk}/")
    page.get_by_label("Audio samples").set_input_files(fake)
    page.get_by_role("button", name="Upload samples").click()

    page.get_by_text("notes.wav is not an audio file callops recognises").wait_for()
    speaker.refresh_from_db()
    assert speaker.samples == 0


def test_it_pushes_ticked_contacts_and_shows_each_result(
    page, role_users, voice_account, screenshot
):
    # The push runs in the in-process (eager) Celery when the request's transaction commits.
    ann = ContactFactory(name="Ann Lee")
    ContactFactory(name="Bob Ray")
    ContactFactory(name="Cy Doe")
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.goto("/contacts/")
    page.get_by_label("Tick Ann Lee").check()
    page.get_by_label("Tick Cy Doe").check()
    page.get_by_role("button", name="Push ticked contacts to the voice platform…").click()
    page.get_by_text("2 selected contacts").wait_for()
    page.get_by_role("button", name="Push 2 contacts").click()

    page.wait_for_url(re.compile(r"/contacts/pushes/\d+/"))
    page.locator('[data-push-status="done"]').wait_for(timeout=20_000)
    assert page.locator("[data-accepted]").inner_text() == "2"
    rows = page.locator('tr[data-row-status="accepted"]')
    assert rows.count() == 2
    assert ann.phone_e164 in page.locator("#rows").inner_text()
    screenshot("customer-push")
