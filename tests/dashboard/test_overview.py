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
