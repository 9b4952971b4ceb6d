"""Post-call rule pages, and what a call page shows of its post-call steps."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import PostCallAction, PostCallRule, PostCallStep, StepStatus
from tests.factories import (
    CallFactory,
    CampaignFactory,
    PostCallRuleFactory,
    PostCallStepFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def voice():
    return VendorAccountFactory(
        kind="voice_platform", name="Voice", base_url="http://127.0.0.1:9/v"
    )


@pytest.fixture
def callcov():
    return VendorAccountFactory(kind="callcov", name="CallCov", base_url="http://127.0.0.1:9/c")


def rule_data(**fields):
    data = {
        "name": "Analyse everything",
        "vendor_account": "",
        "campaign": "",
        "is_active": "on",
        "analysis_account": "",
        "follow_up_account": "",
        "follow_up_channel": "",
        "follow_up_sender": "",
        "follow_up_subject": "",
        "follow_up_message": "",
    }
    data.update({key: str(value) for key, value in fields.items()})
    return data


def test_it_lets_an_operator_create_a_rule_for_an_account(client_as, voice, callcov):
    client = client_as("operator")
    response = client.post(
        reverse("calls:rule_new"),
        rule_data(
            vendor_account=voice.pk,
            analysis_account=callcov.pk,
            write_back="on",
            outcomes="completed",
            variable_name="interested",
            variable_value="yes",
        ),
    )
    assert response.status_code == 302
    rule = PostCallRule.objects.get()
    assert rule.vendor_account == voice
    assert rule.outcomes == ["completed"]
    assert rule.actions == [PostCallAction.ANALYSE, PostCallAction.WRITE_BACK]
    listing = client.get(reverse("calls:rules")).content.decode()
    assert "Analyse everything" in listing
    assert "analyse with CallCov" in listing


def test_it_forbids_managers_to_edit_rules(client_as):
    assert client_as("manager").get(reverse("calls:rules")).status_code == 403
    assert client_as("manager").post(reverse("calls:rule_new"), rule_data()).status_code == 403


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Choose either a vendor account or a campaign."),
        ({"analysis_account": "callcov"}, "Choose either a vendor account or a campaign."),
        ({"vendor_account": "voice"}, "Choose at least one thing to do after the call."),
        (
            {"vendor_account": "revrag", "write_back": "on"},
            "Only voice-platform calls take a write-back.",
        ),
        (
            {"vendor_account": "voice", "follow_up_channel": "email"},
            "Choose the Revor account that sends.",
        ),
        (
            {
                "vendor_account": "voice",
                "analysis_account": "callcov",
                "variable_name": "interested",
            },
            "Give the value the variable must have.",
        ),
        (
            {
                "vendor_account": "voice",
                "follow_up_channel": "whatsapp",
                "follow_up_message": "Hi {{ contact.__class__ }}",
            },
            "is not something a message can use",
        ),
    ],
)
def test_it_explains_what_is_wrong_with_a_rule(client_as, voice, callcov, fields, message):
    accounts = {
        "voice": voice.pk,
        "callcov": callcov.pk,
        "revrag": VendorAccountFactory(kind="revrag").pk,
    }
    data = rule_data(**{k: accounts.get(v, v) for k, v in fields.items()})
    data["campaign"] = data["campaign"] or ""
    both = fields.get("analysis_account") == "callcov" and not fields.get("vendor_account")
    if both:  # an account and a campaign at once
        data["vendor_account"] = voice.pk
        data["campaign"] = CampaignFactory(vendor_account=voice).pk
    response = client_as("operator").post(reverse("calls:rule_new"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PostCallRule.objects.exists()


def test_it_lists_revor_senders_when_a_revor_account_is_chosen(client_as, make_account):
    revor = make_account("revor")
    response = client_as("operator").get(
        reverse("calls:rule_new"),
        {"follow_up_account": revor.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="sender-field",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="sender-field">')
    assert "Sales inbox · email" in html
    # The sandbox's account that cannot send is not offered.
    assert "Miguel Santos" not in html


def test_it_falls_back_to_typing_the_sender_when_revor_cannot_answer(client_as):
    unreachable = VendorAccountFactory(kind="revor", base_url="http://127.0.0.1:9/revor")
    html = (
        client_as("operator")
        .get(reverse("calls:rule_new"), {"follow_up_account": unreachable.pk})
        .content.decode()
    )
    assert "did not list its accounts" in html
    assert 'name="follow_up_sender" maxlength="100"' in html


def test_it_prefills_a_rule_from_a_campaign_and_shows_it_on_the_campaign(client_as):
    campaign = CampaignFactory(name="Spring")
    client = client_as("operator")
    form = client.get(reverse("calls:rule_new"), {"campaign": campaign.pk}).content.decode()
    assert 'value="After Spring"' in form
    PostCallRuleFactory(name="Spring follow-up", vendor_account=None, campaign=campaign)
    page = client.get(reverse("campaigns:detail", kwargs={"pk": campaign.pk})).content.decode()
    assert "Spring follow-up" in page
    assert f"{reverse('calls:rule_new')}?campaign={campaign.pk}" in page


def test_it_deletes_a_rule_after_confirmation_and_keeps_its_steps(client_as):
    step = PostCallStepFactory(status=StepStatus.DONE)
    url = reverse("calls:rule_delete", kwargs={"pk": step.rule.pk})
    client = client_as("operator")
    assert "Delete the rule" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    assert not PostCallRule.objects.exists()
    step.refresh_from_db()
    assert step.rule is None
    assert step.rule_name


# --- the call page ------------------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> hx-get="/x"'


def analysed_step(**fields):
    step = PostCallStepFactory(
        status=StepStatus.DONE,
        vendor_ref="an_1",
        result={
            "id": "an_1",
            "status": "completed",
            "results": {
                "compliance": {"disclosures": {"passed": False, "details": "Missing: " + HOSTILE}},
                "coaching": {
                    "recommendations": [{"priority": 1, "text": "Ask one more question."}],
                    "customer_effort_score": 2,
                },
                "summary": "Agreed on a demo.",
            },
        },
        **fields,
    )
    return step


def test_it_shows_the_analysis_readably_and_escapes_its_text(client_as):
    step = analysed_step()
    html = client_as("manager").get(reverse("calls:detail", kwargs={"pk": step.call_id}))
    html = html.content.decode()
    assert "After the call" in html
    assert "Customer effort score" in html
    assert "Ask one more question." in html
    assert '<span class="badge badge-bad">fail</span>' in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Raw JSON is for admins only.
    assert "Raw analysis" not in html
    admin_html = client_as("admin").get(reverse("calls:detail", kwargs={"pk": step.call_id}))
    assert "Raw analysis" in admin_html.content.decode()


def test_it_shows_follow_ups_with_their_message(client_as):
    step = PostCallStepFactory(
        action=PostCallAction.FOLLOW_UP,
        status=StepStatus.WAITING,
        vendor_status="scheduled",
        request={
            "channel": "email",
            "recipient": {"address": "ada@example.com"},
            "content": {"subject": "Thanks", "text": "Hi Ada, " + HOSTILE},
        },
    )
    html = client_as("operator").get(reverse("calls:detail", kwargs={"pk": step.call_id}))
    html = html.content.decode()
    assert "Follow-up by Email" in html
    assert "to ada@example.com" in html
    assert "Revor job scheduled" in html
    assert "<img src=x" not in html


def test_it_offers_a_retry_of_a_failed_step_to_operators_only(client_as):
    step = PostCallStepFactory(status=StepStatus.FAILED, error="CallCov said no.")
    url = reverse("calls:detail", kwargs={"pk": step.call_id})
    retry = reverse("calls:step_retry", kwargs={"pk": step.call_id, "step_pk": step.pk})
    assert retry in client_as("operator").get(url).content.decode()
    assert retry not in client_as("manager").get(url).content.decode()
    assert client_as("manager").post(retry).status_code == 403

    response = client_as("operator").post(retry)
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.status == StepStatus.PENDING
    assert step.error == ""


def test_it_refuses_to_retry_a_step_of_another_call(client_as):
    step = PostCallStepFactory(status=StepStatus.FAILED)
    other = CallFactory()
    url = reverse("calls:step_retry", kwargs={"pk": other.pk, "step_pk": step.pk})
    assert client_as("operator").post(url).status_code == 404
    assert PostCallStep.objects.get(pk=step.pk).status == StepStatus.FAILED


def test_it_refreshes_the_steps_while_they_run_and_stops_when_they_are_final(client_as):
    step = PostCallStepFactory(status=StepStatus.WAITING)
    client = client_as("manager")
    url = reverse("calls:detail", kwargs={"pk": step.call_id})
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "after-call"}
    running = client.get(url, **htmx)
    assert running.status_code == 200
    assert 'hx-trigger="every 3s"' in running.content.decode()
    PostCallStep.objects.filter(pk=step.pk).update(status=StepStatus.DONE)
    done = client.get(url, **htmx)
    assert done.status_code == 286
    assert "hx-trigger" not in done.content.decode()


def test_it_lists_the_post_call_steps_in_the_calls_api(client_as):
    step = analysed_step()
    answer = client_as("manager").get(reverse("api_call", kwargs={"pk": step.call_id})).json()
    [listed] = answer["post_call_steps"]
    assert listed["action"] == "analyse"
    assert listed["status"] == "done"
    assert listed["rule"] == step.rule_name
    assert listed["results"]["coaching"]["customer_effort_score"] == 2
