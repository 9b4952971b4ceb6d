from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from calls.models import CallState
from dashboard.models import Heartbeat
from dashboard.tasks import record_heartbeat
from tests.factories import CallFactory


def test_it_tells_a_new_user_what_to_do_next(client_as):
    page = client_as("operator").get(reverse("overview")).content.decode()
    assert "Nothing here yet" in page
    assert "connects a vendor account" in page


def test_it_counts_calls_today_and_live_calls(client_as):
    CallFactory(state=CallState.RUNNING)
    CallFactory(state=CallState.ENDED)
    response = client_as("manager").get(reverse("overview"), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert '<span class="kpi-value">2</span><span class="kpi-label">calls today' in page
    assert '<span class="kpi-value">1</span><span class="kpi-label">live calls' in page
    # An htmx poll gets only the counts region, not the whole page.
    assert b"<html" not in response.content
    assert b'id="counts"' in response.content


def test_it_shows_whether_the_background_worker_is_alive(client_as):
    record_heartbeat()
    assert b"Background worker running" in client_as("admin").get(reverse("overview")).content
    Heartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=5))
    assert b"Background worker silent" in client_as("admin").get(reverse("overview")).content


def test_it_shows_whether_the_dialling_worker_is_alive(client_as):
    overview = reverse("overview")
    assert b"No dialling worker seen yet" in client_as("admin").get(overview).content
    record_heartbeat(name="dial")
    assert b"Dialling worker running" in client_as("admin").get(overview).content
    Heartbeat.objects.filter(name="dial").update(seen_at=timezone.now() - timedelta(minutes=5))
    page = client_as("admin").get(overview).content.decode()
    assert "Dialling worker silent" in page
    assert "in bursts every 2 s" in page


def test_it_routes_slot_runs_to_the_dial_queue_and_its_heartbeat_too():
    from dashboard.celery import app

    queue = app.amqp.router.route({}, "campaigns.tasks.dispatch_campaign_at_slot")["queue"].name
    assert queue == "dial"
    assert app.conf.beat_schedule["dial-worker-heartbeat"]["options"]["queue"] == "dial"
    assert app.amqp.router.route({}, "calls.tasks.sync_call")["queue"].name == "celery"


def _at(call, when):
    from calls.models import Call

    Call.objects.filter(pk=call.pk).update(created_at=when)


def test_it_compares_today_with_yesterday(client_as):
    from calls.models import CallOutcome

    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    # Today: 2 calls, 1 connected, 40 s average. Yesterday: 4 calls, 3 connected, 10 s.
    CallFactory(state=CallState.ENDED, outcome=CallOutcome.COMPLETED, duration_seconds=60)
    CallFactory(state=CallState.ENDED, outcome=CallOutcome.NOT_PICKED, duration_seconds=20)
    for outcome in ("completed", "hung_up", "transferred", "voicemail"):
        _at(
            CallFactory(state=CallState.ENDED, outcome=outcome, duration_seconds=10),
            start - timedelta(hours=2),
        )
    response = client_as("manager").get(reverse("overview"))
    kpis = {kpi.label: kpi for kpi in response.context["counts"].kpis}
    assert (kpis["calls today"].today, kpis["calls today"].yesterday) == (2, 4)
    assert kpis["connected rate"].today == 50
    assert kpis["connected rate"].yesterday == 75
    assert kpis["average duration"].today == 40
    assert kpis["average duration"].yesterday == 10
    page = response.content.decode()
    assert "yesterday 75.0%" in page
    assert "▼ 25.0" in page


def test_it_links_what_needs_attention_to_the_filtered_lists(client_as):
    from tests.factories import WebhookEventFactory

    CallFactory(state=CallState.FAILED)
    CallFactory(state=CallState.RUNNING, is_stale=True)
    WebhookEventFactory()
    today = timezone.localdate().isoformat()
    admin_page = client_as("admin").get(reverse("overview")).content.decode()
    assert f'href="/calls/?state=failed&amp;since={today}&amp;until={today}"' in admin_page
    assert 'href="/calls/?stale=yes"' in admin_page
    assert 'href="/calls/webhooks/?status=failed"' in admin_page
    # The webhook inbox is for admins: others see the count without a link they cannot open.
    manager_page = client_as("manager").get(reverse("overview")).content.decode()
    assert "1 webhook delivery failed" in manager_page.replace("</span>", "").replace(
        '<span class="badge badge-bad">', ""
    )
    assert "/calls/webhooks/" not in manager_page


def test_it_lists_live_calls_and_campaign_progress(client_as):
    from campaigns.models import CampaignStatus
    from tests.factories import CampaignFactory

    campaign = CampaignFactory(status=CampaignStatus.RUNNING, name="Winter drive")
    live = CallFactory(state=CallState.RUNNING, campaign=campaign)
    CallFactory(state=CallState.ENDED, campaign=campaign)
    CallFactory(state=CallState.FAILED, campaign=campaign)
    CallFactory(state=CallState.ENDED, campaign=CampaignFactory(status=CampaignStatus.DRAFT))
    response = client_as("operator").get(reverse("overview"), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert f'href="/calls/{live.pk}/"' in page
    assert "Winter drive" in page
    assert "2 of 3 calls finished (67%)" in page
    assert page.count("calls finished") == 1  # the draft campaign is not active
