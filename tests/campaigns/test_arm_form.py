"""The arm rows of the campaign form: arms chosen with selects, saved with weights and
backups, shown again on edit, and each mistake answered next to its control."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignKind
from tests.campaigns.test_campaign_form import NEW, field_errors
from tests.campaigns.test_pages_and_api import form_data
from tests.factories import AgentFactory, VendorAccountFactory, VoiceAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agents():
    revrag = AgentFactory(vendor_account=VendorAccountFactory(name="Revrag main"), name="Ava")
    voice = AgentFactory(vendor_account=VoiceAccountFactory(name="Voice main"), name="Vic")
    return revrag, voice


def test_it_offers_every_calling_agent_by_account_and_name(client_as, agents):
    page = client_as("operator").get(NEW).content.decode()
    assert 'name="arm_B_agent"' in page
    assert "Voice main · Vic" in page and "Revrag main · Ava" in page
    assert 'name="arm_A_agent"' not in page  # arm A is the campaign's own agent


def test_it_saves_a_two_arm_campaign_as_paced_with_weights_and_a_backup(client_as, agents):
    revrag, voice = agents
    data = form_data(
        revrag,
        arm_A_weight="3",
        arm_B_agent=voice.pk,
        arm_B_weight="1",
        arm_B_backup="A",
    )
    response = client_as("operator").post(NEW, data)
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.kind == CampaignKind.PACED
    first, second = campaign.arms.order_by("position")
    assert (first.agent, first.vendor_account, first.weight) == (revrag, revrag.vendor_account, 3)
    assert (second.agent, second.vendor_account, second.weight) == (voice, voice.vendor_account, 1)
    assert second.backup_arm == first and first.backup_arm is None

    edit = client_as("operator").get(f"/campaigns/{campaign.pk}/edit").content.decode()
    assert f'<option value="{voice.pk}" selected>' in edit


def test_it_keeps_a_campaign_without_arms_as_before(client_as, agents):
    revrag, _voice = agents
    assert client_as("operator").post(NEW, form_data(revrag)).status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.kind == CampaignKind.PACED and not campaign.arms.exists()


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"arm_C_agent": "voice"}, "arm_C_agent", "Fill the arms in order"),
        ({"arm_B_agent": "voice", "arm_B_backup": "B"}, "arm_B_backup", "its own backup"),
        ({"arm_B_agent": "voice", "arm_B_backup": "D"}, "arm_B_backup", "Arm D has no agent"),
        ({"arm_B_agent": "voice", "arm_B_weight": "0"}, "arm_B_weight", "greater than or equal"),
        ({"arm_B_agent": "999999"}, "arm_B_agent", "not available"),
    ],
)
def test_it_refuses_a_bad_arm_next_to_its_control(client_as, agents, extra, field, message):
    revrag, voice = agents
    values = {key: (voice.pk if value == "voice" else value) for key, value in extra.items()}
    response = client_as("operator").post(NEW, form_data(revrag, **values))
    assert response.status_code == 400
    assert message in field_errors(response, field)
    assert not Campaign.objects.exists()
