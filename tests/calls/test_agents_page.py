from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from calls.models import Call, CallOutcome, CallState
from tests.factories import AgentFactory, CallFactory, CallReviewFactory


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


def test_it_shows_each_agents_review_score_for_the_period(client_as):
    agent = AgentFactory(name="Renewals bot")
    unrated = AgentFactory(name="Quiet bot")
    for rating in (5, 4, 2):
        call = CallFactory(agent=agent, vendor_account=agent.vendor_account, state=CallState.ENDED)
        CallReviewFactory(call=call, rating=rating)
    # Reviewed without a rating: not counted as rated.
    plain = CallFactory(agent=agent, vendor_account=agent.vendor_account, state=CallState.ENDED)
    CallReviewFactory(call=plain, rating=None)
    old = CallFactory(agent=agent, vendor_account=agent.vendor_account, state=CallState.ENDED)
    CallReviewFactory(call=old, rating=1)
    Call.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    CallFactory(agent=unrated, vendor_account=unrated.vendor_account, state=CallState.ENDED)

    client = client_as("operator")
    page = client.get(reverse("calls:agents")).content.decode()
    assert "Review score" in page
    assert '3.7 <span class="muted">(3 rated)</span>' in page  # (5 + 4 + 2) / 3, last 30 days
    page_90 = client.get(reverse("calls:agents") + "?days=90").content.decode()
    assert '3.0 <span class="muted">(4 rated)</span>' in page_90  # the 40-day-old 1 counts

    detail = client.get(reverse("calls:agent", kwargs={"pk": agent.pk})).content.decode()
    assert '<span class="kpi-value">3.7 / 5</span>' in detail
    assert "review score, 3 calls rated" in detail
    quiet = client.get(reverse("calls:agent", kwargs={"pk": unrated.pk})).content.decode()
    assert (
        '<span class="kpi-value">—</span><span class="kpi-label">review score, 0 calls rated'
        in quiet
    )
