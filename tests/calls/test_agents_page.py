from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from calls.models import Call, CallOutcome, CallState
from tests.factories import AgentFactory, CallFactory


def test_it_shows_each_agents_figures_for_the_period(client_as):
    agent = AgentFactory(name="Renewals <b>bot</b>")
    for outcome, duration in ((CallOutcome.COMPLETED, 60), (CallOutcome.COMPLETED, 120)):
        CallFactory(
            agent=agent,
            vendor_account=agent.vendor_account,
            state=CallState.ENDED,
            outcome=outcome,
            duration_seconds=duration,
        )
    CallFactory(
        agent=agent,
        vendor_account=agent.vendor_account,
        state=CallState.ENDED,
        outcome=CallOutcome.NOT_PICKED,
        vendor_outcome="CALL_NOT_PICKED",
    )
    old = CallFactory(agent=agent, vendor_account=agent.vendor_account, state=CallState.FAILED)
    Call.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    page = client_as("operator").get(reverse("calls:agents")).content.decode()
    assert "Renewals &lt;b&gt;bot&lt;/b&gt;" in page
    assert '<td class="num">3</td>' in page  # the 40-day-old call is outside 30 days
    assert "2 (67 %)" in page
    assert "1 min 30 s" in page

    detail = client_as("manager").get(reverse("calls:agent", kwargs={"pk": agent.pk}) + "?days=90")
    html = detail.content.decode()
    assert "CALL_NOT_PICKED" in html
    assert '<span class="kpi-value">1</span><span class="kpi-label">failed</span>' in html


def test_it_answers_404_for_an_unknown_agent(client_as):
    assert client_as("operator").get(reverse("calls:agent", kwargs={"pk": 999})).status_code == 404
