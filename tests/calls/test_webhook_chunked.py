"""Webhooks sent with `Transfer-Encoding: chunked` (no Content-Length), over real HTTP.

gunicorn (what `make run` and production serve with) de-chunks the body and ends the input
stream with it; Django's development server, behind the live_server fixture, does not.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings

from calls.models import Call, CallState, WebhookEvent, WebhookStatus
from calls.webhook_views import MAX_WEBHOOK_BYTES
from tests.calls.test_webhooks import SECRET, revrag_body, signed_headers, url_for
from tests.factories import CallFactory, VendorAccountFactory
from tests.sandbox import REPO_ROOT
from tests.utils import child_process_env

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn_url(tmp_path) -> Iterator[str]:
    """The dashboard under gunicorn with a threaded worker, as `make run` starts it; tasks run
    in the web process so a stored delivery is applied before the answer."""
    port = free_port()
    env = child_process_env(
        CALLOPS_VAR_DIR=str(tmp_path),
        SECRET_KEY=settings.SECRET_KEY,
        CALLOPS_ENCRYPTION_KEYS=",".join(settings.CALLOPS_ENCRYPTION_KEYS),
        CELERY_TASK_ALWAYS_EAGER="true",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4"],
        cwd=REPO_ROOT,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("gunicorn did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def account():
    account = VendorAccountFactory(kind="revrag")
    account.set_webhook_secret(SECRET)
    account.save()
    return account


def in_pieces(body: bytes, size: int = 1000) -> Iterator[bytes]:
    """A generator body: requests sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_it_stores_verifies_and_applies_a_chunked_delivery_under_gunicorn(gunicorn_url, account):
    call = CallFactory(vendor_account=account, vendor_call_id="vc-chunked", state=CallState.RUNNING)
    body = revrag_body("vc-chunked")
    sent = requests.Request(
        "POST", gunicorn_url + url_for(account), data=in_pieces(body, 50),
        headers=signed_headers(body, event_id="chunked-1"),
    ).prepare()  # fmt: skip
    assert sent.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in sent.headers

    with requests.Session() as session:
        response = session.send(sent, timeout=30)

    assert response.status_code == 200, response.text
    event = WebhookEvent.objects.get()
    assert (event.dedupe_key, event.body) == ("chunked-1", body.decode())
    assert event.status == WebhookStatus.PROCESSED
    call.refresh_from_db()
    assert call.state == CallState.ENDED


def test_it_refuses_a_chunked_body_whose_signature_does_not_match_under_gunicorn(
    gunicorn_url, account
):
    body = revrag_body("vc-forged")
    headers = signed_headers(body, event_id="forged")
    forged = body.replace(b"demo", b"demO")
    response = requests.post(
        gunicorn_url + url_for(account), data=in_pieces(forged), headers=headers, timeout=30
    )
    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_it_answers_413_to_an_endless_chunked_body_after_reading_just_over_the_limit(
    gunicorn_url, account
):
    """The sender never ends its body: the answer must come once the limit is passed, so the
    server neither waits for the end nor keeps what follows."""
    target = urlsplit(gunicorn_url + url_for(account))
    chunk = b"x" * 65536
    with socket.create_connection((target.hostname, target.port), timeout=30) as sender:
        sender.sendall(
            f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for _ in range(MAX_WEBHOOK_BYTES // len(chunk) + 1):
            sender.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = sender.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert WebhookEvent.objects.count() == 0
    assert not Call.objects.exists()


def test_it_answers_413_to_a_chunked_body_just_over_the_limit_under_gunicorn(gunicorn_url, account):
    body = b'{"pad": "' + b" " * MAX_WEBHOOK_BYTES + b'"}'
    response = requests.post(
        gunicorn_url + url_for(account),
        data=in_pieces(body, 65536),
        headers=signed_headers(body, event_id="big"),
        timeout=30,
    )
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_it_answers_411_for_a_chunked_body_the_development_server_cannot_read(live_server, account):
    body = revrag_body("vc-dev")
    response = requests.post(
        live_server.url + url_for(account),
        data=in_pieces(body),
        headers=signed_headers(body, event_id="dev"),
        timeout=30,
    )
    assert response.status_code == 411
    assert "Content-Length" in response.json()["error"]
    assert WebhookEvent.objects.count() == 0
