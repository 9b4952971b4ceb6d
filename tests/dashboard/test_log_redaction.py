"""Webhook URL tokens never reach a log line: gunicorn's access log, Django's request logging."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from celery.signals import after_setup_logger
from django.conf import settings
from django.test import Client

from dashboard.log_redaction import mask_webhook_tokens
from dashboard.management.commands import run as run_command
from tests.factories import VendorAccountFactory
from tests.utils import child_process_env
from vendors.models import VendorKind

REPO_ROOT = Path(__file__).resolve().parents[2]
UNKNOWN_TOKEN = "NotAnAccountTokenButSecretLooking42"  # noqa: S105 - a made-up token


@pytest.fixture
def accounts(db):
    """A CallCov account (its URL token is its only credential) and a signed Revrag one."""
    callcov = VendorAccountFactory(kind=VendorKind.CALLCOV, base_url="http://127.0.0.1:9/callcov")
    revrag = VendorAccountFactory(kind=VendorKind.REVRAG)
    revrag.set_webhook_secret("whsec_for_the_log_test")
    revrag.save()
    return callcov, revrag


def deliveries(callcov, revrag) -> list[tuple[str, int]]:
    """(path, expected status): accepted, wrong token, known token with a missing signature."""
    return [
        (f"/webhooks/callcov/{callcov.webhook_token}/", 200),
        (f"/webhooks/callcov/{UNKNOWN_TOKEN}/", 404),
        (f"/webhooks/revrag/{revrag.webhook_token}/", 401),
    ]


def assert_no_token_in(output: str, tokens: list[str]) -> None:
    leaked = [token for token in tokens if token in output]
    assert leaked == [], output
    for token in tokens:
        assert f"{token[:4]}****" in output  # the line was written, masked


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        url, data=json.dumps({"event": "analysis.completed"}).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn stopped while starting"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start listening")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_it_masks_webhook_tokens_in_a_real_gunicorn_started_as_make_run_does(
    monkeypatch, tmp_path, accounts, log_format
):
    callcov, revrag = accounts
    port = free_port()
    command = run_command.web_command(port)  # exactly what make run starts
    assert "--access-logfile" in command
    env = child_process_env(
        CALLOPS_VAR_DIR=str(tmp_path),
        SECRET_KEY=settings.SECRET_KEY,
        CALLOPS_ENCRYPTION_KEYS=",".join(settings.CALLOPS_ENCRYPTION_KEYS),
        PYTHONUNBUFFERED="1",
        # text: what make run writes; json: production's default.
        CALLOPS_LOG_FORMAT=log_format,
    )
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - the command manage.py run would start
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_serving(port, server)
            statuses = [
                (path, post(f"http://127.0.0.1:{port}{path}"))
                for path, _ in deliveries(callcov, revrag)
            ]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    assert statuses == deliveries(callcov, revrag)
    output = log_path.read_text()
    assert_no_token_in(output, [callcov.webhook_token, UNKNOWN_TOKEN, revrag.webhook_token])
    if log_format == "text":
        access = [line for line in output.splitlines() if '"POST /webhooks/' in line]
        ids = [line.rsplit(" ", 1)[-1] for line in access]
    else:
        # One JSON object a line, gunicorn's own lines too; the access lines carry the id.
        lines = [json.loads(line) for line in output.splitlines()]
        access = [line for line in lines if line["logger"] == "gunicorn.access"]
        ids = [line["request_id"] for line in access]
    assert len(access) == 3  # one access-log line per delivery
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids), ids


class ConsoleOutput(io.StringIO):
    def getvalue(self) -> str:
        """The lines as written, and for JSON lines (production) their message and traceback
        as text too, so one assertion reads both formats."""
        written = super().getvalue()
        readable = []
        for line in written.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                readable += [record["message"], record.get("exc_info", "")]
        return "\n".join([written, *readable])


@pytest.fixture
def console_output():
    """What callops' console handler (the one every Django logger writes to) prints."""
    handler = next(handler for handler in logging.getLogger().handlers if handler.name == "console")
    stream = ConsoleOutput()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_it_masks_webhook_tokens_in_djangos_request_logging(accounts, console_output):
    callcov, revrag = accounts
    for path, status in deliveries(callcov, revrag):
        assert Client().post(path, {}, content_type="application/json").status_code == status
    logging.getLogger("django.server").warning(
        '"%s" %s %s', f"POST /webhooks/callcov/{UNKNOWN_TOKEN}/ HTTP/1.1", 404, 0
    )

    output = console_output.getvalue()
    assert f"Not Found: /webhooks/callcov/{UNKNOWN_TOKEN[:4]}****/" in output
    assert f"Unauthorized: /webhooks/revrag/{revrag.webhook_token[:4]}****/" in output
    # runserver's request lines (django.server) go through the same handler.
    assert f'"POST /webhooks/callcov/{UNKNOWN_TOKEN[:4]}****/ HTTP/1.1" 404' in output
    assert_no_token_in(output, [UNKNOWN_TOKEN, revrag.webhook_token])


def test_it_masks_a_token_in_a_logged_traceback(console_output):
    try:
        raise ValueError(f"vendor refused http://x/webhooks/voice_platform/{UNKNOWN_TOKEN}/")
    except ValueError:
        logging.getLogger("vendors.http").exception("registration failed")
    assert UNKNOWN_TOKEN not in console_output.getvalue()
    assert f"/webhooks/voice_platform/{UNKNOWN_TOKEN[:4]}****/" in console_output.getvalue()


def test_it_leaves_the_webhook_inbox_paths_alone():
    assert mask_webhook_tokens("GET /calls/webhooks/12/replay") == "GET /calls/webhooks/12/replay"
    assert mask_webhook_tokens("/webhooks/revor/abcdefgh?x=1") == "/webhooks/revor/abcd****?x=1"


def test_it_masks_webhook_tokens_in_the_handlers_celery_installs():
    stream = io.StringIO()
    worker_logger = logging.getLogger("tests.celery_worker_root")
    worker_logger.propagate = False
    worker_logger.addHandler(logging.StreamHandler(stream))

    after_setup_logger.send(
        sender=None, logger=worker_logger, loglevel=logging.INFO, logfile=None, format="",
        colorize=False,
    )  # fmt: skip
    worker_logger.warning("vendor said: bad url /webhooks/revont/%s/", UNKNOWN_TOKEN)

    line = stream.getvalue()
    # A JSON line in production (CALLOPS_LOG_FORMAT=json), the bare message otherwise.
    message = json.loads(line)["message"] if line.startswith("{") else line.removesuffix("\n")
    assert message == f"vendor said: bad url /webhooks/revont/{UNKNOWN_TOKEN[:4]}****/"
    assert UNKNOWN_TOKEN not in line
