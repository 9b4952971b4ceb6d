"""A request id per request: on the response, on every log line, and in the tasks it enqueues."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.test import Client

from accounts.request_id import (
    HEADER,
    RequestIdFilter,
    bind_request_id,
    current_request_id,
    unbind_request_id,
)
from dashboard.log_format import JsonLines
from tests.factories import VendorAccountFactory
from vendors.models import VendorKind


def test_it_makes_an_id_for_a_request_that_brings_none():
    first, second = Client().get("/login/"), Client().get("/login/")

    assert re.fullmatch(r"[0-9a-f]{32}", first[HEADER])
    assert first[HEADER] != second[HEADER]


def test_it_keeps_a_sane_incoming_id_and_replaces_any_other():
    kept = Client().get("/login/", HTTP_X_REQUEST_ID="lb-7f3a.42:9")
    assert kept[HEADER] == "lb-7f3a.42:9"

    for hostile in ("a b", "x" * 65, "id\nfake log line", '"quoted"', "é"):
        answered = Client().get("/login/", HTTP_X_REQUEST_ID=hostile)[HEADER]
        assert answered != hostile and re.fullmatch(r"[0-9a-f]{32}", answered)


def test_it_answers_probes_with_an_id_too():
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="probe-1")[HEADER] == "probe-1"


@pytest.fixture
def json_console():
    """callops' console handler, writing JSON lines (production) into a buffer."""
    handler = next(handler for handler in logging.getLogger().handlers if handler.name == "console")
    stream = io.StringIO()
    previous_stream, previous_formatter = handler.setStream(stream), handler.formatter
    handler.setFormatter(JsonLines())
    yield stream
    handler.setStream(previous_stream)
    handler.setFormatter(previous_formatter)


@pytest.mark.django_db
def test_it_puts_the_id_on_every_line_the_request_logs(json_console):
    account = VendorAccountFactory(kind=VendorKind.REVRAG)
    account.set_webhook_secret("whsec_for_the_request_id_test")
    account.save()

    response = Client().post(
        f"/webhooks/revrag/{account.webhook_token}/",
        b"{}",
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-webhook-1",
    )

    assert response.status_code == 401
    lines = [json.loads(line) for line in json_console.getvalue().splitlines()]
    # The view's own warning, and Django's line about the 401 (written after the middleware).
    assert {line["logger"] for line in lines} >= {"calls.webhook_views", "django.request"}
    assert {line["request_id"] for line in lines} == {"req-webhook-1"}
    assert all(line["message"] and line["level"] == "WARNING" for line in lines)
    assert account.webhook_token not in json_console.getvalue()
    assert current_request_id() == "-"  # nothing left behind after the request


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def worker_app():
    """A Celery app on an in-memory broker with a real worker in a thread: messages, headers
    and the worker's task signals as in production, no broker server needed."""
    app = Celery("request-id-test", broker="memory://", backend="cache+memory://")
    app.conf.update(task_always_eager=False, worker_hijack_root_logger=False)
    logger = logging.getLogger("tests.request_id.task")

    @app.task(name="tests.request_id.logs_a_line")
    def logs_a_line(number: int) -> str:
        logger.warning("task %s ran", number)
        return current_request_id()

    app.loader.import_default_modules()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield app, logs_a_line, logger


def test_it_carries_the_id_into_the_tasks_a_request_enqueues(worker_app):
    app, logs_a_line, logger = worker_app
    captured = Captured()
    logger.addHandler(captured)
    try:
        token = bind_request_id("req-enqueues-2")
        try:
            with_request = logs_a_line.delay(1)
        finally:
            unbind_request_id(token)
        without_request = logs_a_line.delay(2)  # enqueued by no request (beat, a command)

        assert with_request.get(timeout=20) == "req-enqueues-2"
        assert without_request.get(timeout=20) == "-"
    finally:
        logger.removeHandler(captured)

    deadline = time.monotonic() + 5
    while len(captured.records) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    by_message = {record.getMessage(): record.request_id for record in captured.records}
    assert by_message == {"task 1 ran": "req-enqueues-2", "task 2 ran": "-"}
