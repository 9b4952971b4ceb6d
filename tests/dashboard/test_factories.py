from tests.factories import CallFactory, CampaignFactory


def test_it_builds_a_call_whose_agent_belongs_to_its_vendor_account(db):
    call = CallFactory()
    assert call.agent.vendor_account == call.vendor_account
    assert call.vendor_account.get_api_key() == "test-key-0000"


def test_it_builds_a_campaign_with_an_agent_of_its_account(db):
    campaign = CampaignFactory()
    assert campaign.agent.vendor_account == campaign.vendor_account
