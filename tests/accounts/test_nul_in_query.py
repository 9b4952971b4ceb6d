"""A NUL in a query parameter is a 400 naming it, on every page and API list, never a 500."""

from __future__ import annotations

import pytest

URLS = [
    "/contacts/?q=%00",
    "/contacts/do-not-call/?q=Ada%00",
    "/calls/?q=a%00",
    "/campaigns/new?pick_q=%00",
    "/review/?q=%00",
    "/settings/audit/?actor=%00",
]


@pytest.mark.parametrize("url", URLS)
def test_it_refuses_a_nul_in_a_page_query_with_a_400_page(client_as, url):
    answer = client_as("admin").get(url)
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "NUL character" in page
    assert 'aria-label="Main"' in page


@pytest.mark.parametrize("url", ["/api/v1/contacts/?q=%00", "/api/v1/calls/?q=x%00"])
def test_it_refuses_a_nul_in_an_api_query_in_the_error_shape(client_as, url):
    answer = client_as("admin").get(url)
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]["q"]


def test_it_previews_a_campaign_audience_typed_with_a_nul_without_failing(client_as):
    from tests.factories import AgentFactory, VendorAccountFactory

    agent = AgentFactory(vendor_account=VendorAccountFactory())
    answer = client_as("operator").post(
        "/campaigns/new",
        {"name": "X", "vendor_account": agent.vendor_account_id, "agent": agent.pk,
         "audience_mode": "filter", "audience_search": "Ada\x00", "pick_q": "B\x00"},
    )  # fmt: skip
    assert answer.status_code == 400
