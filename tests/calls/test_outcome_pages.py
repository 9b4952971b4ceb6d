"""The common outcomes on pages: the call log's filter, the help page, the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from calls.models import CallOutcome, CallState, CommonOutcome
from calls.outcomes import OUTCOME_TABLE, outcome_table_markdown
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db

LIST = reverse("calls:list")
HELP = reverse("calls:outcomes")
README = Path(__file__).resolve().parents[2] / "README.md"


def _ended(number: str, common: str, old: str = "", reason: str = "") -> None:
    CallFactory(
        to_number=number,
        state=CallState.ENDED,
        common_outcome=common,
        outcome=old,
        vendor_outcome=reason,
    )


def test_it_filters_the_call_log_by_outcome_and_shows_its_label(client_as):
    _ended("+14155550101", CommonOutcome.VOICEMAIL, reason="VOICEMAIL_REACHED")
    _ended("+14155550102", CommonOutcome.CALLBACK_REQUESTED, reason="AGENT_HANGUP")
    page = client_as("operator").get(LIST, {"outcome": "callback_requested"}).content.decode()
    assert "+14155550102" in page
    assert "+14155550101" not in page
    assert "Callback requested" in page
    assert '<option value="callback_requested" selected>Callback requested</option>' in page


def test_it_still_filters_by_an_older_outcome_name_from_a_shared_link(client_as):
    _ended("+14155550103", CommonOutcome.COMPLETED, old=CallOutcome.HUNG_UP, reason="USER_HANGUP")
    _ended("+14155550104", CommonOutcome.COMPLETED, old=CallOutcome.COMPLETED)
    response = client_as("manager").get(LIST, {"outcome": "hung_up"})
    assert not response.context["form"].errors
    page = response.content.decode()
    assert "+14155550103" in page
    assert "+14155550104" not in page


def test_it_ignores_an_unknown_outcome_with_a_message(client_as):
    page = client_as("operator").get(LIST, {"outcome": "teleported"}).content.decode()
    assert "Some filters were ignored" in page


@pytest.mark.parametrize("role", ["operator", "manager", "admin"])
def test_it_explains_every_outcome_and_vendor_value_to_every_role(client_as, role):
    assert HELP in client_as(role).get(LIST).content.decode()
    page = client_as(role).get(HELP).content.decode()
    for outcome in CommonOutcome:
        assert f'id="outcome-{outcome.value}"' in page
        assert f"?outcome={outcome.value}" in page
    for row in OUTCOME_TABLE:
        if row.vendor == "callops":  # callops' own cases are words, not codes
            assert f"<td>{row.value}</td>" in page, row
        elif row.value:
            assert f"<code>{row.value}</code>" in page, row
    assert "`" not in page.split("<h2>How a call")[0]  # no markdown left in the table
    assert "greeting" in page and "processing" in page


def test_it_keeps_the_readme_table_equal_to_the_code():
    assert outcome_table_markdown() in README.read_text()


def test_it_shows_an_agents_outcomes_as_labels(client_as):
    call = CallFactory(
        state=CallState.ENDED,
        common_outcome=CommonOutcome.NO_ANSWER,
        vendor_outcome="CALL_NOT_PICKED",
    )
    page = client_as("manager").get(reverse("calls:agent", kwargs={"pk": call.agent_id}))
    assert "<td>No answer</td>" in page.content.decode()
