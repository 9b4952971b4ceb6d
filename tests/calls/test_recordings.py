"""The recording proxy: only the vendor account's own hosts, no SSRF, Range passed through."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.urls import reverse

from calls import recordings
from calls.recordings import RecordingRefused, check_recording_url
from simulators.server import start
from tests.factories import CallFactory, VendorAccountFactory

# ------------------------------------------------------------------------------------ helpers


def place_sandbox_call(sandbox, *, duration: int = 40) -> dict:
    """A Revrag call placed on the sandbox with plain requests, returned once it has ended."""
    base, key = sandbox.base_urls["revrag"], sandbox.api_keys["revrag"]
    headers = {"X-API-Key": key}
    requests.post(
        f"{sandbox.admin_url}/script",
        json={
            "vendor": "revrag",
            "outcomes": [{"reason": "AGENT_HANGUP", "duration": duration, "ring_seconds": 1}],
        },
        timeout=5,
    ).raise_for_status()
    agents = requests.get(f"{base}/v1/campaigns/agents", headers=headers, timeout=5).json()
    triggered = requests.post(
        f"{base}/v1/campaigns/trigger/single",
        headers=headers,
        json={"agent_id": agents[0]["id"], "to_phone_number": "+14155550123"},
        timeout=5,
    )
    triggered.raise_for_status()
    call_id = triggered.json()["call_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = requests.get(
            f"{base}/v1/campaigns/trigger/status/{call_id}", headers=headers, timeout=5
        ).json()
        if status["call_status"] == "ENDED" and status["recording_url"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"sandbox call {call_id} did not end in time")


@pytest.fixture(scope="module")
def sandbox():
    box = start(port=0, speed=50, seed=3)
    yield box
    box.stop()


@pytest.fixture
def no_fetch(monkeypatch):
    """Fails the test if anything is requested; lists what would have been."""
    attempted: list[str] = []

    def refuse(self, request, **kwargs):
        attempted.append(request.url)
        raise AssertionError(f"fetched {request.url}")

    monkeypatch.setattr(requests.Session, "send", refuse)
    return attempted


def fake_dns(monkeypatch, mapping: dict[str, str]) -> None:
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in mapping:
            raise socket.gaierror(f"unknown host {host}")
        address = mapping[host]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


class _Upstream(BaseHTTPRequestHandler):
    """A tiny vendor: /redirect answers 302, /big lies about nothing, /chunked has no length."""

    hits: list[str]
    redirect_to = ""
    body = b""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(20):
                chunk = b"x" * 1000
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/page"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "29")
            self.end_headers()
            self.wfile.write(b"<script>alert('xss')</script>")
        else:
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b"x" * 5000)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    """Two loopback servers: `main` (the vendor) and `inner` (somewhere it must not lead)."""
    servers = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
        server.hits = []
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    main, inner = servers
    main.redirect_to = f"http://127.0.0.1:{inner.server_port}/secret"
    yield main, inner
    for server in servers:
        server.shutdown()
        server.server_close()


def recording_url_of(call) -> str:
    return reverse("calls:recording", kwargs={"pk": call.pk})


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("base_url", "recording_url", "why"),
    [
        (
            "https://api.revrag.ai",
            "http://169.254.169.254/latest/meta-data/",
            "not https",
        ),
        ("http://169.254.169.254", "http://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://api.revrag.ai", "https://127.0.0.1:8000/admin", "not a host of"),
        ("http://api.revrag.ai", "http://127.0.0.1/admin", "not a host of"),
        ("http://[::ffff:127.0.0.1]:8000", "http://[::ffff:127.0.0.1]:8000/r.wav", "IPv4-mapped"),
        ("http://127.0.0.1:8000", "http://[::ffff:127.0.0.1]:8000/r.wav", "not a host of"),
        ("http://10.0.0.7", "http://10.0.0.7/r.wav", "private"),
        ("http://10.255.1.1:8080", "http://10.255.1.1:8080/r.wav", "private"),
        ("https://api.revrag.ai", "file:///etc/passwd", "file scheme"),
        ("https://api.revrag.ai", "http://api.revrag.ai/r.wav", "not https"),
        ("https://api.revrag.ai", "https://api.revrag.ai:8443/r.wav", "not a host of"),
        ("https://api.revrag.ai", "https://evil.example/api.revrag.ai/r.wav", "not a host of"),
        ("https://api.revrag.ai", "https://api.revrag.ai@evil.example/r.wav", "not a host of"),
        ("https://api.revrag.ai", "https://169.254.169.254/latest/meta-data/", "not a host of"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:9000/r.wav", "not a host of"),
    ],
)
def test_it_refuses_recording_urls_outside_the_account(
    db, client_as, no_fetch, base_url, recording_url, why
):
    call = CallFactory(vendor_account__base_url=base_url, recording_url=recording_url)
    response = client_as("manager").get(recording_url_of(call))
    assert response.status_code == 502
    assert why in response.content.decode()
    assert no_fetch == []


def test_it_refuses_a_host_name_that_resolves_to_a_private_address(
    db, client_as, no_fetch, monkeypatch
):
    fake_dns(monkeypatch, {"recordings.revrag.ai": "10.1.2.3"})
    call = CallFactory(
        vendor_account__base_url="https://recordings.revrag.ai",
        recording_url="https://recordings.revrag.ai/r/1.wav",
    )
    response = client_as("manager").get(recording_url_of(call))
    assert response.status_code == 502
    assert "resolves to a private address" in response.content.decode()
    assert no_fetch == []


def test_it_refuses_a_public_name_that_resolves_to_loopback(db, no_fetch, monkeypatch):
    # Loopback is only allowed when the account's own base URL is a loopback host.
    fake_dns(monkeypatch, {"api.revrag.ai": "127.0.0.1"})
    account = VendorAccountFactory(base_url="https://api.revrag.ai")
    with pytest.raises(RecordingRefused, match="loopback"):
        check_recording_url("https://api.revrag.ai/r.wav", account)


def test_it_refuses_a_name_with_any_bad_address(db, monkeypatch):
    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fd00::1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    account = VendorAccountFactory(base_url="https://api.revrag.ai")
    with pytest.raises(RecordingRefused, match="private"):
        check_recording_url("https://api.revrag.ai/r.wav", account)


def test_it_refuses_a_redirect_and_never_follows_it(db, client_as, upstream):
    main, inner = upstream
    base = f"http://127.0.0.1:{main.server_port}"
    call = CallFactory(vendor_account__base_url=base, recording_url=f"{base}/redirect/1.wav")
    response = client_as("manager").get(recording_url_of(call))
    assert response.status_code == 502
    assert "redirect" in response.content.decode()
    assert main.hits == ["/redirect/1.wav"]
    assert inner.hits == []


def test_it_refuses_a_body_larger_than_the_cap(db, client_as, upstream, monkeypatch):
    monkeypatch.setattr(recordings, "MAX_BYTES", 1000)
    main, _inner = upstream
    base = f"http://127.0.0.1:{main.server_port}"
    call = CallFactory(vendor_account__base_url=base, recording_url=f"{base}/big.wav")
    response = client_as("manager").get(recording_url_of(call))
    assert response.status_code == 502
    assert "larger than callops serves" in response.content.decode()


def test_it_cuts_a_body_without_length_at_the_cap(db, client_as, upstream, monkeypatch):
    monkeypatch.setattr(recordings, "MAX_BYTES", 4500)
    main, _inner = upstream
    base = f"http://127.0.0.1:{main.server_port}"
    call = CallFactory(vendor_account__base_url=base, recording_url=f"{base}/chunked.wav")
    response = client_as("manager").get(recording_url_of(call))
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content)) <= 4500


def test_it_never_serves_a_vendor_page_as_html(db, client_as, upstream):
    main, _inner = upstream
    base = f"http://127.0.0.1:{main.server_port}"
    call = CallFactory(vendor_account__base_url=base, recording_url=f"{base}/page")
    response = client_as("manager").get(recording_url_of(call))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    b"".join(response.streaming_content)


def test_it_answers_404_for_a_call_without_recording(db, client_as, no_fetch):
    call = CallFactory(recording_url="")
    response = client_as("operator").get(recording_url_of(call))
    assert response.status_code == 404


def test_it_keeps_anonymous_users_out(db, client, no_fetch):
    call = CallFactory(recording_url="http://127.0.0.1:9/revrag/recordings/x.wav")
    response = client.get(recording_url_of(call))
    assert response.status_code == 302
    assert no_fetch == []


# ------------------------------------------------------------------------------------ pinning


def test_it_connects_to_the_address_it_checked(db, monkeypatch):
    fake_dns(monkeypatch, {"api.revrag.ai": "93.184.216.34"})
    account = VendorAccountFactory(base_url="https://api.revrag.ai")
    target = check_recording_url("https://api.revrag.ai/rec/vc-1.mp4?sig=abc", account)
    assert target.address == "93.184.216.34"
    assert target.pinned_url == "https://93.184.216.34:443/rec/vc-1.mp4?sig=abc"
    assert target.host_header == "api.revrag.ai"

    sent = []

    def capture(self, request, **kwargs):
        sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "video/mp4"
        response.headers["Content-Length"] = "3"
        response.raw = __import__("io").BytesIO(b"abc")
        return response

    monkeypatch.setattr(requests.Session, "send", capture)
    stream = recordings.open_recording(target.url, account, range_header="bytes=0-2")
    assert b"".join(stream.body) == b"abc"
    assert sent[0].url == "https://93.184.216.34:443/rec/vc-1.mp4?sig=abc"
    assert sent[0].headers["Host"] == "api.revrag.ai"
    assert sent[0].headers["Range"] == "bytes=0-2"
    assert "X-API-Key" not in sent[0].headers
    # A second lookup (DNS rebinding) is never made: the request went to the checked IP.


def test_it_gives_tls_the_host_name_when_pinned(db):
    adapter = recordings._PinnedHostAdapter("api.revrag.ai")
    assert adapter.poolmanager.connection_pool_kw["server_hostname"] == "api.revrag.ai"
    assert adapter.poolmanager.connection_pool_kw["assert_hostname"] == "api.revrag.ai"


@pytest.mark.parametrize(
    ("header", "forwarded"),
    [
        ("bytes=0-99", "bytes=0-99"),
        ("bytes=100-", "bytes=100-"),
        ("bytes=-500", "bytes=-500"),
        ("bytes=0-1,5-9", None),
        ("bytes=-", None),
        ("items=0-1", None),
        ("bytes=0-1\r\nX-Evil: 1", None),
        (None, None),
    ],
)
def test_it_forwards_only_a_single_byte_range(header, forwarded):
    assert recordings.clean_range(header) == forwarded


# ------------------------------------------------------------------------------------ sandbox


def test_it_streams_a_range_of_a_sandbox_recording(db, client_as, sandbox):
    status = place_sandbox_call(sandbox)
    account = VendorAccountFactory(base_url=sandbox.base_urls["revrag"])
    call = CallFactory(
        vendor_account=account,
        agent__vendor_account=account,
        state="ended",
        recording_url=status["recording_url"],
    )
    direct = requests.get(status["recording_url"], headers={"Range": "bytes=100-1123"}, timeout=5)
    assert direct.status_code == 206

    response = client_as("manager").get(recording_url_of(call), HTTP_RANGE="bytes=100-1123")
    assert response.status_code == 206
    body = b"".join(response.streaming_content)
    assert body == direct.content
    assert len(body) == 1024
    total = direct.headers["Content-Range"].split("/")[1]
    assert response["Content-Range"] == f"bytes 100-1123/{total}"
    assert response["Content-Length"] == "1024"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/wav"

    whole = client_as("operator").get(recording_url_of(call))
    assert whole.status_code == 200
    assert whole["Content-Length"] == total
    assert b"".join(whole.streaming_content)[:4] == b"RIFF"
