"""Voice-platform configuration from callops, over real HTTP against the sandbox: AI agents and
flows, speaker voices (create → samples → deploy), rate budgets, and the free-humans badge."""

from __future__ import annotations

import io
import time
import wave
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from calls.forms import NewCallForm
from calls.models import Agent
from campaigns.forms import CampaignForm
from vendors.models import RateBudget, Speaker, SpeakerSample, VoiceFlow
from vendors.voice_config import try_again_message
from vendors.voice_platform.samples import SampleRefused, check_sample

pytestmark = pytest.mark.django_db


def wav_bytes(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x01" * int(seconds * rate))
    return buffer.getvalue()


@pytest.fixture
def voice(make_account):
    return make_account("voice_platform")


def vendor_posts(sandbox, path: str) -> list[dict]:
    return [
        entry
        for entry in sandbox.log("voice_platform", method="POST")
        if entry["path"].endswith(path)
    ]


# --- agents and flows ----------------------------------------------------------------------------


def test_it_creates_an_agent_that_calls_and_campaigns_can_use_at_once(client_as, voice, sandbox):
    client = client_as("operator")
    form = client.get(reverse("calls:agent_new"))
    assert form.status_code == 200
    key = form.context["form"].initial["request_key"]

    response = client.post(
        reverse("calls:agent_new"),
        {
            "request_key": key,
            "vendor_account": voice.pk,
            "name": "Renewals bot",
            "voice": "alloy",
            "language": "en-US",
            "config": '{"prompt": "You renew contracts", "max_duration_seconds": 300}',
        },
    )

    agent = Agent.objects.get(vendor_account=voice, name="Renewals bot")
    assert response.status_code == 302
    assert response["Location"] == reverse("calls:agent", kwargs={"pk": agent.pk})
    assert agent.vendor_agent_id in sandbox.state("voice_platform")["agents"]
    assert (agent.language, agent.voice, agent.is_active) == ("en-US", "alloy", True)
    # The sync after creating also copied the sandbox's own demo agent.
    assert Agent.objects.filter(vendor_account=voice).count() == 2
    new_call = NewCallForm(initial={"vendor_account": voice.pk})
    assert agent in new_call.fields["agent"].queryset
    assert agent in CampaignForm(initial={"vendor_account": voice.pk}).fields["agent"].queryset
    sent = vendor_posts(sandbox, "/api/voice/agents")
    assert [entry["idempotency_key"] for entry in sent] == [key]
    assert AuditEvent.objects.filter(detail__voice_agent_created=agent.vendor_agent_id).exists()


def test_it_creates_one_agent_when_the_form_is_sent_twice(client_as, voice, sandbox):
    client = client_as("operator")
    data = {"request_key": "double-click-key", "vendor_account": voice.pk, "name": "Twice"}
    first = client.post(reverse("calls:agent_new"), data)
    second = client.post(reverse("calls:agent_new"), data)

    assert first["Location"] == second["Location"]
    assert Agent.objects.filter(name="Twice").count() == 1
    assert len(sandbox.state("voice_platform")["agents"]) == 2  # the demo agent and this one


def test_it_refuses_a_config_that_is_not_json_without_asking_the_vendor(client_as, voice, sandbox):
    response = client_as("operator").post(
        reverse("calls:agent_new"),
        {"request_key": "k1", "vendor_account": voice.pk, "name": "Bad", "config": "{prompt: 1"},
    )

    assert response.status_code == 400
    assert "This is not valid JSON" in response.content.decode()
    assert vendor_posts(sandbox, "/api/voice/agents") == []
    # What was typed is kept, so nothing is lost.
    assert "{prompt: 1" in response.content.decode()


def test_it_refuses_json_that_is_not_an_object(client_as, voice, sandbox):
    response = client_as("operator").post(
        reverse("calls:flow_new"),
        {"request_key": "k2", "vendor_account": voice.pk, "name": "List", "config": "[1, 2]"},
    )

    assert response.status_code == 400
    assert "Give a JSON object" in response.content.decode()
    assert vendor_posts(sandbox, "/api/voice/flows") == []


def test_it_shows_the_vendors_own_words_when_it_refuses_an_agent(client_as, voice, sandbox):
    stale = VoiceFlow.objects.create(
        vendor_account=voice, vendor_flow_id="flow-deleted-at-the-vendor", name="Old flow"
    )
    response = client_as("admin").post(
        reverse("calls:agent_new"),
        {"request_key": "k3", "vendor_account": voice.pk, "name": "Lost", "flow": stale.pk},
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "The voice platform refused it: Flow not found" in page
    assert "hx-disable>The voice platform refused it" in page
    # A corrected submission is a new request: the form carries a fresh key.
    assert response.context["form"].data["request_key"] != "k3"
    assert not Agent.objects.filter(name="Lost").exists()


def test_it_creates_a_flow_and_offers_it_to_the_next_agent(client_as, voice, sandbox):
    client = client_as("operator")
    response = client.post(
        reverse("calls:flow_new"),
        {
            "request_key": "flow-key",
            "vendor_account": voice.pk,
            "name": "Renewal flow",
            "config": '{"steps": [{"say": "Hello"}]}',
        },
    )

    flow = VoiceFlow.objects.get(name="Renewal flow")
    assert flow.vendor_flow_id in sandbox.state("voice_platform")["flows"]
    assert flow.config == {"steps": [{"say": "Hello"}]}
    assert response["Location"] == reverse("calls:agent_new") + f"?flow={flow.pk}"
    form_page = client.get(response["Location"])
    assert form_page.context["form"].initial["flow"] == flow.pk

    client.post(
        reverse("calls:agent_new"),
        {"request_key": "a", "vendor_account": voice.pk, "name": "Flowing", "flow": flow.pk},
    )
    agent = Agent.objects.get(name="Flowing")
    assert agent.vendor_agent_id in sandbox.state("voice_platform")["agents"]
    agents_page = client.get(reverse("calls:agents")).content.decode()
    assert "Renewal flow" in agents_page


def test_it_refreshes_agents_and_flows_from_the_vendor(client_as, voice, sandbox):
    VoiceFlow.objects.create(vendor_account=voice, vendor_flow_id="gone", name="Gone flow")
    response = client_as("operator").post(reverse("calls:voice_refresh"), follow=True)

    assert "1 agent and 0 flows listed" in response.content.decode()
    assert Agent.objects.filter(vendor_account=voice, name="Demo agent").exists()
    assert not VoiceFlow.objects.get(vendor_flow_id="gone").is_active


@pytest.mark.parametrize(("role", "status"), [("operator", 200), ("admin", 200), ("manager", 403)])
def test_it_lets_only_operators_and_admins_create(client_as, voice, role, status):
    for name in ("calls:agent_new", "calls:flow_new", "calls:speaker_new"):
        assert client_as(role).get(reverse(name)).status_code == status


def test_it_shows_managers_the_flows_and_speakers_without_create_buttons(client_as, voice):
    VoiceFlow.objects.create(vendor_account=voice, vendor_flow_id="f1", name="Shown flow")
    Speaker.objects.create(vendor_account=voice, name="ada")
    agents_page = client_as("manager").get(reverse("calls:agents")).content.decode()
    speakers_page = client_as("manager").get(reverse("calls:speakers")).content.decode()

    assert "Shown flow" in agents_page and "New AI agent" not in agents_page
    assert "ada" in speakers_page and "New speaker voice" not in speakers_page


def test_it_sends_people_to_settings_without_a_voice_platform_account(client_as):
    response = client_as("operator").get(reverse("calls:agent_new"), follow=True)

    assert "No voice-platform connection is enabled" in response.content.decode()


# --- speaker voices ------------------------------------------------------------------------------


def test_it_takes_a_speaker_from_created_to_deployed(client_as, voice, sandbox):
    client = client_as("operator")
    created = client.post(
        reverse("calls:speaker_new"), {"vendor_account": voice.pk, "name": "ada", "language": "en"}
    )
    speaker = Speaker.objects.get(name="ada")
    assert created["Location"] == reverse("calls:speaker", kwargs={"pk": speaker.pk})
    assert (speaker.status, speaker.samples) == ("created", 0)
    assert "ada" in sandbox.state("voice_platform")["speakers"]

    upload = client.post(
        reverse("calls:speaker_samples", kwargs={"pk": speaker.pk}),
        {
            "files": [
                SimpleUploadedFile("one.wav", wav_bytes(), content_type="audio/wav"),
                # The browser's type is ignored: callops reads what the bytes are.
                SimpleUploadedFile("two.wav", wav_bytes(), content_type="application/octet-stream"),
            ]
        },
        follow=True,
    )
    speaker.refresh_from_db()
    assert "2 samples uploaded; the voice platform holds 2 now." in upload.content.decode()
    assert speaker.samples == 2
    assert list(SpeakerSample.objects.values_list("file_name", "content_type")) == [
        ("one.wav", "audio/wav"),
        ("two.wav", "audio/wav"),
    ]

    deploy = client.post(reverse("calls:speaker_deploy", kwargs={"pk": speaker.pk}), follow=True)
    speaker.refresh_from_db()
    assert "ada is deploying" in deploy.content.decode()
    assert speaker.status == "deploying"
    assert 'hx-trigger="every 2s"' in deploy.content.decode()

    # The sandbox trains in 5 s / speed 50 (its clock is never moved: the rate windows of
    # later tests follow it); a poll after the refresh interval sees "deployed".
    time.sleep(0.3)
    Speaker.objects.filter(pk=speaker.pk).update(last_synced_at=None)
    poll = client.get(
        reverse("calls:speaker", kwargs={"pk": speaker.pk}),
        headers={"HX-Request": "true", "HX-Target": "speaker-status"},
    )
    speaker.refresh_from_db()
    assert poll.status_code == 286  # stop polling
    assert poll["HX-Refresh"] == "true"
    assert speaker.status == "deployed" and speaker.deployed_at is not None
    assert 'data-speaker-state="deployed"' in poll.content.decode()


def test_it_checks_every_sample_before_sending_any(client_as, voice, sandbox):
    speaker = Speaker.objects.create(vendor_account=voice, name="bea")
    response = client_as("operator").post(
        reverse("calls:speaker_samples", kwargs={"pk": speaker.pk}),
        {
            "files": [
                SimpleUploadedFile("good.wav", wav_bytes(), content_type="audio/wav"),
                SimpleUploadedFile("notes.wav", b"just some text", content_type="audio/wav"),
            ]
        },
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "notes.wav is not an audio file callops recognises" in page
    assert "Nothing was uploaded." in page
    assert vendor_posts(sandbox, "/dataset/sample") == []
    assert not SpeakerSample.objects.exists()


def test_it_refuses_empty_and_oversized_samples():
    with pytest.raises(SampleRefused, match="is empty"):
        check_sample(file_name="a.wav", size=0, head=b"")
    with pytest.raises(SampleRefused, match="at most 20 MB"):
        check_sample(file_name="big.wav", size=21 * 1024 * 1024, head=wav_bytes()[:16])
    assert check_sample(
        file_name="a.mp3", size=10, head=b"ID3\x04" + b"\x00" * 12
    ).content_type == ("audio/mpeg")
    assert check_sample(file_name="a.flac", size=10, head=b"fLaC" + b"\x00" * 12).content_type == (
        "audio/flac"
    )


def test_it_shows_the_vendors_refusal_to_deploy_without_samples(client_as, voice, sandbox):
    client = client_as("operator")
    client.post(reverse("calls:speaker_new"), {"vendor_account": voice.pk, "name": "cy"})
    speaker = Speaker.objects.get(name="cy")

    response = client.post(reverse("calls:speaker_deploy", kwargs={"pk": speaker.pk}), follow=True)

    assert "The voice platform refused it: Speaker has no samples to train on" in (
        response.content.decode()
    )
    speaker.refresh_from_db()
    assert speaker.status == "created"


def test_it_adopts_a_speaker_the_vendor_already_has(client_as, voice, sandbox):
    from vendors.services import vendor_client_for

    with vendor_client_for(voice) as vendor:
        vendor.create_speaker(name="console-made")
    response = client_as("operator").post(
        reverse("calls:speaker_new"),
        {"vendor_account": voice.pk, "name": "console-made"},
        follow=True,
    )

    assert "already had a speaker named console-made" in response.content.decode()
    assert Speaker.objects.filter(name="console-made", vendor_account=voice).exists()


def test_it_refuses_a_speaker_name_that_cannot_go_in_a_url(client_as, voice, sandbox):
    response = client_as("operator").post(
        reverse("calls:speaker_new"), {"vendor_account": voice.pk, "name": "a/b"}
    )

    assert response.status_code == 400
    assert vendor_posts(sandbox, "/models/speakers") == []


def test_it_says_when_to_try_again_once_the_speaker_budget_is_spent(
    client_as, make_account, sandbox
):
    # The documented 5 per window, over a day (at the sandbox and in the account's plan), so no
    # window edge falls inside the test and the budget cannot simply wait for the next one.
    group = "POST /api/voice/models/speakers"
    sandbox.set_rate_limit("voice_platform", 5, 86400, group=group)
    voice = make_account(
        "voice_platform", rate_limits={group: {"limit": 5, "window_seconds": 86400}}
    )
    client = client_as("operator")
    messages = []
    for number in range(6):
        response = client.post(
            reverse("calls:speaker_new"), {"vendor_account": voice.pk, "name": f"voice-{number}"}
        )
        if response.status_code != 302:
            messages.append(response.content.decode())

    # 5 documented; callops keeps a request in hand (4 usable) and never earns a 429.
    assert Speaker.objects.count() == 4
    assert len(vendor_posts(sandbox, "/api/voice/models/speakers")) == 4
    assert all(entry["status"] == 201 for entry in vendor_posts(sandbox, "/models/speakers"))
    budget = RateBudget.objects.get(account=voice, group="POST /api/voice/models/speakers")
    window_end = datetime.fromtimestamp(budget.window_ends_at + 0.25, UTC)
    expected = try_again_message(voice, budget.group, window_end)
    assert "at most 5 speaker creations a day" in expected
    assert len(messages) == 2
    assert all(expected in page for page in messages)


def test_it_rounds_the_time_to_try_again_up_to_the_next_minute(voice):
    message = try_again_message(
        voice,
        "POST /api/voice/models/speakers/{name}/deploy",
        datetime(2026, 5, 4, 14, 3, 20, tzinfo=UTC),
    )
    assert message.endswith("try again at 14:04.")
    assert "at most 5 speaker deployments a minute" in message


def test_it_says_when_to_try_again_after_the_vendors_own_429(client_as, voice, sandbox):
    speaker = Speaker.objects.create(vendor_account=voice, name="dee")
    sandbox.faults("voice_platform", burst_429=1)
    response = client_as("operator").post(
        reverse("calls:speaker_samples", kwargs={"pk": speaker.pk}),
        {"files": [SimpleUploadedFile("a.wav", wav_bytes(), content_type="audio/wav")]},
        follow=True,
    )

    page = response.content.decode()
    assert "at most 30 sample uploads a minute, and that budget is spent: try again at " in page
    assert "Not uploaded: a.wav." in page


# --- free human agents ---------------------------------------------------------------------------


@pytest.fixture
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_shows_free_humans_from_one_cached_answer(client_as, voice, sandbox, fresh_cache):
    operator, admin = client_as("operator"), client_as("admin")
    url = reverse("calls:human_agents")
    first = operator.get(url, headers={"HX-Request": "true"})
    second = admin.get(url, headers={"HX-Request": "true"})

    assert first.status_code == second.status_code == 200
    assert "3 humans free" in first.content.decode()
    assert 'data-humans="3"' in second.content.decode()
    asked = [e for e in sandbox.log("voice_platform") if "agent-availability" in e["path"]]
    assert len(asked) == 1


def test_it_shows_unknown_when_the_vendor_fails(client_as, voice, sandbox, fresh_cache):
    sandbox.faults("voice_platform", fail_next=[503])
    response = client_as("operator").get(reverse("calls:human_agents"))

    assert response.status_code == 200
    assert "humans: unknown" in response.content.decode()


def test_it_asks_again_once_the_answer_is_stale(client_as, voice, sandbox, fresh_cache):
    from vendors.voice_config import human_availability

    sandbox.post("config", {"vendor": "voice_platform", "agent_queues": {"default": 0}})
    try:
        first = human_availability(account=voice)
        later = human_availability(account=voice, now=timezone.now() + timedelta(seconds=16))
    finally:
        sandbox.post("config", {"vendor": "voice_platform", "agent_queues": {"default": 3}})
    assert first.available_agents == later.available_agents == 0
    asked = [e for e in sandbox.log("voice_platform") if "agent-availability" in e["path"]]
    assert len(asked) == 2


def test_it_puts_the_badge_in_the_layout_only_for_people_who_trigger_calls(client_as, voice):
    assert 'id="human-agents"' in client_as("operator").get(reverse("overview")).content.decode()
    assert 'id="human-agents"' not in client_as("manager").get(reverse("overview")).content.decode()
    voice.is_active = False
    voice.save()
    assert (
        'id="human-agents"' not in client_as("operator").get(reverse("overview")).content.decode()
    )


def test_it_reads_deploying_speakers_again_when_listing_them(client_as, voice, sandbox):
    from vendors.services import vendor_client_for

    with vendor_client_for(voice) as vendor:
        vendor.create_speaker(name="eve")
        vendor.upload_speaker_sample("eve", filename="a.wav", content=wav_bytes())
        vendor.deploy_speaker("eve")
    Speaker.objects.create(vendor_account=voice, name="eve", status="deploying", samples=1)
    time.sleep(0.3)  # 5 vendor seconds at speed 50

    page = client_as("manager").get(reverse("calls:speakers")).content.decode()

    assert 'data-speaker-state="deployed"' in page
    assert Speaker.objects.get(name="eve").deployed_at is not None


def test_it_creates_a_flow_posted_without_a_form_key(client_as, voice, sandbox):
    response = client_as("admin").post(
        reverse("calls:flow_new"),
        {"vendor_account": voice.pk, "name": "By hand", "config": '{"steps": []}'},
    )

    assert response.status_code == 302
    sent = vendor_posts(sandbox, "/api/voice/flows")
    assert len(sent) == 1 and sent[0]["idempotency_key"]  # the client made one
