"""/metrics: who may scrape it, and that the counters move with requests, tasks and webhooks."""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import ip_network

import pytest
from celery import shared_task
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from analytics import summary_refresh
from calls.models import CallOutcome, CallState
from dashboard import tasks as dashboard_tasks
from tests.factories import CallFactory, VendorAccountFactory
from tests.sandbox import REPO_ROOT
from tests.utils import child_process_env
from vendors.models import VendorKind

TOKEN = "metrics-token-for-the-test"  # noqa: S105 - made up for the test


def scrape(client: Client | None = None, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of one scrape, by (name, sorted labels)."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@shared_task(name="tests.dashboard.failing_task")
def failing_task() -> None:
    raise ValueError("this task fails on purpose")


# --- who may scrape -------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_serves_loopback_only_when_no_token_is_set():
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="10.1.2.3").get("/metrics")
    assert refused.status_code == 403
    assert "callops" not in refused.content.decode()


@pytest.mark.django_db
def test_it_requires_the_bearer_token_once_one_is_set(settings):
    settings.CALLOPS_METRICS_TOKEN = TOKEN
    # What settings make of a token without CALLOPS_METRICS_ALLOWED_NETWORKS (tested below).
    settings.CALLOPS_METRICS_ALLOWED_NETWORKS = [ip_network("0.0.0.0/0"), ip_network("::/0")]
    remote = Client(REMOTE_ADDR="203.0.113.9")

    assert remote.get("/metrics").status_code == 401
    assert remote.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert remote.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    # Even loopback needs it once it is set.
    assert Client().get("/metrics").status_code == 401
    assert remote.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_it_keeps_the_allowed_networks_when_a_token_is_set_too(settings):
    settings.CALLOPS_METRICS_TOKEN = TOKEN
    settings.CALLOPS_METRICS_ALLOWED_NETWORKS = [ip_network("10.0.0.0/8")]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}

    assert Client(REMOTE_ADDR="10.9.8.7").get("/metrics", **bearer).status_code == 200
    assert Client(REMOTE_ADDR="192.168.1.5").get("/metrics", **bearer).status_code == 403


def test_settings_default_to_loopback_without_a_token_and_anywhere_with_one():
    code = (
        "from django.conf import settings; "
        "print(','.join(map(str, settings.CALLOPS_METRICS_ALLOWED_NETWORKS)))"
    )

    def networks(**env: str) -> str:
        return subprocess.run(  # noqa: S603 - this interpreter, a fixed snippet
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env=child_process_env(**env), cwd=REPO_ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip

    assert networks(CALLOPS_METRICS_TOKEN="") == "127.0.0.0/8,::1/128"
    assert networks(CALLOPS_METRICS_TOKEN=TOKEN) == "0.0.0.0/0,::/0"
    bad = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import django; django.setup()"],
        env=child_process_env(CALLOPS_METRICS_ALLOWED_NETWORKS="10.0.0.0/8,nonsense"),
        cwd=REPO_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode != 0 and "CALLOPS_METRICS_ALLOWED_NETWORKS" in bad.stderr


# --- what moves -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_times_requests_by_view():
    before = value(
        scrape(), "django_http_requests_latency_seconds_by_view_method_count",
        view="login", method="GET",
    )  # fmt: skip
    assert Client().get("/login/").status_code == 200
    after = value(
        scrape(), "django_http_requests_latency_seconds_by_view_method_count",
        view="login", method="GET",
    )  # fmt: skip
    assert after == before + 1


@pytest.mark.django_db
def test_it_counts_tasks_by_result_and_times_them():
    name = "dashboard.tasks.record_heartbeat"
    before = scrape()
    dashboard_tasks.record_heartbeat.delay()
    # As a worker runs it: the failure is recorded, not raised into the caller.
    assert failing_task.apply(throw=False).failed()
    after = scrape()

    def moved(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert moved("callops_celery_tasks_total", task=name, result="succeeded") == 1
    assert moved("callops_celery_task_duration_seconds_count", task=name) == 1
    assert (
        moved("callops_celery_tasks_total", task="tests.dashboard.failing_task", result="failed")
        == 1
    )


@pytest.mark.django_db
def test_it_counts_webhook_deliveries_by_vendor_and_result():
    account = VendorAccountFactory(kind=VendorKind.CALLCOV)
    signed = VendorAccountFactory(kind=VendorKind.REVRAG)
    signed.set_webhook_secret("whsec_for_the_metrics_test")
    signed.save()
    body = json.dumps({"event": "analysis.completed", "id": "an_1", "status": "completed"})
    before = scrape()

    client = Client()
    url = f"/webhooks/callcov/{account.webhook_token}/"
    assert client.post(url, body, content_type="application/json").status_code == 200
    assert client.post(url, body, content_type="application/json").json()["duplicate"] is True
    assert (
        client.post("/webhooks/callcov/NoSuchToken/", body, "application/json").status_code == 404
    )
    assert (
        client.post("/webhooks/whatever/NoSuchToken/", body, "application/json").status_code == 404
    )
    unsigned = client.post(f"/webhooks/revrag/{signed.webhook_token}/", body, "application/json")
    assert unsigned.status_code == 401
    after = scrape()

    def moved(vendor: str, result: str) -> float:
        labels = {"vendor": vendor, "result": result}
        return value(after, "callops_webhook_deliveries_total", **labels) - value(
            before, "callops_webhook_deliveries_total", **labels
        )

    assert moved("callcov", "stored") == 1
    assert moved("callcov", "duplicate") == 1
    assert moved("callcov", "unknown_account") == 1
    assert moved("unknown", "unknown_account") == 1  # a made-up vendor is no label of its own
    assert moved("revrag", "rejected") == 1


@pytest.mark.django_db
def test_it_counts_calls_by_state_and_vendor():
    revrag = VendorAccountFactory(kind=VendorKind.REVRAG)
    voice = VendorAccountFactory(kind=VendorKind.VOICE_PLATFORM)
    CallFactory.create_batch(2, vendor_account=revrag, state=CallState.PENDING)
    CallFactory(vendor_account=revrag, state=CallState.RUNNING)
    CallFactory.create_batch(
        3, vendor_account=voice, state=CallState.ENDED, outcome=CallOutcome.COMPLETED
    )
    CallFactory(vendor_account=revrag, state=CallState.FAILED)
    summary_refresh.refresh_summary()  # what the beat job does every minute

    samples = scrape()

    assert value(samples, "callops_calls", state="pending", vendor="revrag") == 2
    assert value(samples, "callops_calls", state="running", vendor="revrag") == 1
    assert value(samples, "callops_calls", state="ended", vendor="voice_platform") == 3
    assert value(samples, "callops_calls", state="failed", vendor="revrag") == 1
    assert value(samples, "callops_calls", state="ended", vendor="revrag") == 0


@pytest.mark.django_db
def test_it_adds_up_the_counters_other_processes_wrote_to_the_shared_folder(tmp_path, monkeypatch):
    # A worker process with PROMETHEUS_MULTIPROC_DIR set runs a task and exits; a scrape of
    # the web process reading the same folder shows it (make run sets the folder for both).
    worker = (
        "import django; django.setup()\n"
        "from dashboard.celery import app\n"
        "app.conf.task_always_eager = True\n"
        "@app.task(name='tests.ran_in_another_process')\n"
        "def ran_in_another_process():\n"
        "    return None\n"
        "for _ in range(3):\n"
        "    ran_in_another_process.delay()\n"
    )
    subprocess.run(  # noqa: S603 - this interpreter, a fixed snippet
        [sys.executable, "-c", worker],
        env=child_process_env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path)),
        cwd=REPO_ROOT, check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    samples = scrape()

    labels = {"task": "tests.ran_in_another_process", "result": "succeeded"}
    assert value(samples, "callops_celery_tasks_total", **labels) == 3
    assert (
        value(
            samples,
            "callops_celery_task_duration_seconds_count",
            task="tests.ran_in_another_process",
        )
        == 3
    )
