"""/healthz and /readyz: no login, no host check, a clear 503 naming the failing check."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from django.test import Client

from dashboard.celery import app


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BROKER_SETTINGS = ("broker_url", "broker_write_url", "broker_transport")


@pytest.fixture
def broker_at(monkeypatch):
    """Points the Celery app at another broker for one test."""
    saved = {name: app.conf.get(name) for name in BROKER_SETTINGS}

    def point(url: str) -> None:
        # Celery reads CELERY_BROKER_URL from the environment before its configuration.
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        app.conf.update(broker_url=url, broker_write_url=None, broker_transport=None)

    yield point
    app.conf.update(saved)


def test_it_says_the_process_is_up_without_a_login_or_a_known_host():
    # A probe comes by IP address: the host check would refuse it.
    response = Client(HTTP_HOST="10.20.30.40:8000").get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_it_is_ready_when_database_migrations_broker_and_cache_answer():
    response = Client(HTTP_HOST="10.20.30.40:8000").get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": {"ok": True},
            "migrations": {"ok": True},
            "broker": {"ok": True},
            "cache": {"ok": True},
        },
    }


@pytest.mark.django_db
def test_it_answers_503_naming_the_broker_when_its_port_is_closed(broker_at):
    port = closed_port()
    broker_at(f"redis://:brokerpassword@127.0.0.1:{port}/0")

    started = time.monotonic()
    response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] == {"ok": False, "reason": "unreachable"}
    assert body["checks"]["database"] == {"ok": True}
    # No host, port, URL or secret in the answer.
    text = response.content.decode()
    for secret in ("127.0.0.1", str(port), "redis", "brokerpassword"):
        assert secret not in text
    assert time.monotonic() - started < 3


@pytest.mark.django_db
def test_it_gives_up_on_a_broker_that_never_answers_within_the_deadline(broker_at, settings):
    # A port that accepts the connection and then says nothing, like a hung broker.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    settings.CALLOPS_READY_CHECK_SECONDS = 1
    broker_at(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    try:
        started = time.monotonic()
        response = Client().get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
        for connection in accepted:
            connection.close()

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "reason": "timeout"}
    assert elapsed < 2.5


def test_it_lets_other_paths_and_methods_through_to_the_site():
    assert Client().post("/readyz").status_code == 404
    assert Client().get("/healthz/").status_code == 404


@pytest.mark.django_db
def test_it_reports_a_cache_that_cannot_be_reached(settings):
    port = closed_port()
    settings.CACHES = {
        "default": {
            "BACKEND": "dashboard.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert json.loads(response.content)["checks"]["cache"] == {
        "ok": False,
        "reason": "unreachable",
    }


@pytest.mark.django_db(transaction=True)
def test_it_is_not_ready_while_a_migration_is_not_applied(monkeypatch):
    from django.db.migrations.recorder import MigrationRecorder

    from dashboard import health

    # As after deploying code whose migration has not run yet: the latest one is unrecorded.
    monkeypatch.setattr(health, "_migrations_applied", False)
    latest = MigrationRecorder.Migration.objects.filter(app="calls").order_by("-id").first()
    latest.delete()
    try:
        response = Client().get("/readyz")
    finally:
        MigrationRecorder.Migration.objects.create(app=latest.app, name=latest.name)

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {"ok": False, "reason": "pending"}
    assert Client().get("/readyz").status_code == 200  # applied again: ready
