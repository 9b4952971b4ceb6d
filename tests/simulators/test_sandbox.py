"""The vendor sandbox, exercised over real HTTP (stdlib only, no Django)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import json
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from simulators.server import Sandbox, start

REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, Any] | None = None,
) -> Reply:
    parts = urlsplit(url)
    path = parts.path + (f"?{urlencode(query)}" if query else "")
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    payload = json.dumps(body).encode() if body is not None else None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        return Reply(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class Client:
    """Talks to one vendor of the sandbox with that vendor's auth header."""

    def __init__(self, sandbox: Sandbox, vendor: str, auth: Callable[[str], dict[str, str]]):
        self.base = sandbox.base_urls[vendor]
        self.key = sandbox.api_keys[vendor]
        self.auth = auth

    def __call__(self, method: str, path: str, body: Any = None, **options: Any) -> Reply:
        headers = {**self.auth(self.key), **options.pop("headers", {})}
        return request(method, self.base + path, body, headers=headers, **options)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Admin:
    url: str

    def post(self, name: str, body: dict[str, Any]) -> Any:
        reply = request("POST", f"{self.url}/{name}", body)
        assert reply.status == 200, reply.body
        return reply.json

    def get(self, name: str, **query: Any) -> Any:
        reply = request("GET", f"{self.url}/{name}", query=query or None)
        assert reply.status == 200, reply.body
        return reply.json

    def advance(self, seconds: float) -> None:
        self.post("clock", {"advance_seconds": seconds})

    def start_of_next_window(self, window_seconds: float) -> None:
        """Windows are aligned on the clock; begin a fresh one so a test cannot straddle two."""
        now = self.get("health")["now"]
        self.advance(window_seconds - now % window_seconds + 0.01)


class WebhookReceiver:
    """A tiny local HTTP server that records every POST it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                received.append({"headers": headers, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return wait_until(lambda: self.received if len(self.received) >= count else None, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # Speed 1 plus explicit clock advances keeps every lifecycle deterministic and fast.
    running = start(port=0, speed=1.0, seed=7)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def admin(sandbox: Sandbox) -> Admin:
    return Admin(sandbox.admin_url)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def revrag(sandbox: Sandbox) -> Client:
    return Client(sandbox, "revrag", lambda key: {"X-API-Key": key})


@pytest.fixture
def voice(sandbox: Sandbox) -> Client:
    return Client(sandbox, "voice_platform", bearer)


@pytest.fixture
def revont(sandbox: Sandbox) -> Client:
    return Client(sandbox, "revont", bearer)


@pytest.fixture
def callcov(sandbox: Sandbox) -> Client:
    return Client(sandbox, "callcov", bearer)


@pytest.fixture
def revor(sandbox: Sandbox) -> Client:
    return Client(sandbox, "revor", bearer)


def ended_revrag_call(revrag: Client, admin: Admin, duration: int, **variables: Any) -> dict:
    admin.post(
        "script",
        {"vendor": "revrag", "outcomes": [{"reason": "AGENT_HANGUP", "duration": duration}]},
    )
    agent_id = revrag("GET", "/v1/campaigns/agents").json[0]["id"]
    trigger = {
        "agent_id": agent_id,
        "to_phone_number": "+919876543210",
        "variable_fields": variables,
    }
    call_id = revrag("POST", "/v1/campaigns/trigger/single", trigger).json["call_id"]
    admin.advance(duration + 20)
    return revrag("GET", f"/v1/campaigns/trigger/status/{call_id}").json


# --------------------------------------------------------------------------- CLI


def test_it_prints_one_json_line_per_vendor_and_the_admin_url_then_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "--port", "0", "--key", "revrag=cli-key"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [json.loads(process.stdout.readline()) for _ in range(6)]
        vendors = {line["vendor"]: line for line in lines[:5]}
        assert set(vendors) == {"revrag", "voice_platform", "revont", "callcov", "revor"}
        assert vendors["revrag"]["api_key"] == "cli-key"
        assert vendors["callcov"]["api_key"].startswith("sk_test_")
        assert vendors["revor"]["api_key"].startswith("sk-revor-")
        assert vendors["revont"]["base_url"].endswith("/revont/v1")
        admin_url = lines[5]["admin_url"]
        assert request("GET", f"{admin_url}/health").json["ok"] is True
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_it_listens_on_every_address_and_hands_out_the_origin_it_is_given() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "--host", "0.0.0.0", "--port", "0",  # noqa: S104
         "--origin", "http://sandbox:8100/", "--key", "revrag=cli-key"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        lines = [json.loads(process.stdout.readline()) for _ in range(6)]
        assert lines[0]["base_url"] == "http://sandbox:8100/revrag"
        port = lines[5]["admin_url"].rsplit(":", 1)[1].split("/")[0]
        # Containers reach it by name; here, any local address of this machine answers.
        agents = request(
            "GET",
            f"http://127.0.0.1:{port}/revrag/v1/campaigns/agents",
            headers={"X-API-Key": "cli-key"},
        )
        assert agents.status == 200
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


# --------------------------------------------------------------------------- auth


def test_it_rejects_bad_credentials_in_each_vendors_own_shape(
    sandbox: Sandbox, admin: Admin, revor: Client
) -> None:
    urls = sandbox.base_urls
    reply = request("GET", urls["revrag"] + "/v1/campaigns/agents", headers={"X-API-Key": "nope"})
    assert (reply.status, reply.json["success"]) == (401, False)

    reply = request("GET", urls["voice_platform"] + "/v1/calls", headers=bearer("nope"))
    assert (reply.status, reply.json) == (401, {"detail": "Invalid or expired token"})
    admin.post(
        "keys", {"vendor": "voice_platform", "key": "reader", "scopes": ["voice:calls:read"]}
    )
    body = {"agent_id": "x", "phone": "+14155550100"}
    reply = request("POST", urls["voice_platform"] + "/v1/calls", body, headers=bearer("reader"))
    assert reply.status == 403
    assert reply.json == {"detail": "Insufficient permissions. Required scopes: voice:calls:write"}

    reply = request("GET", urls["revont"] + "/calls")
    assert (reply.status, reply.json["error"]["code"]) == (401, "unauthorized")

    reply = request("GET", urls["callcov"] + "/analysis/", headers=bearer("sk_test_wrong"))
    assert reply.status == 401 and isinstance(reply.json["detail"], str)

    accounts = urls["revor"] + "/connect/accounts"
    admin.post("keys", {"vendor": "revor", "key": "sk-revor-old", "state": "expired"})
    admin.post("keys", {"vendor": "revor", "key": "sk-revor-gone", "state": "revoked"})
    for headers, code in [
        ({}, "api_key_missing"),
        (bearer("sk-revor-unknown"), "api_key_invalid"),
        ({"x-api-key": "sk-revor-old"}, "api_key_expired"),
        (bearer("sk-revor-gone"), "api_key_revoked"),
    ]:
        reply = request("GET", accounts, headers=headers)
        assert reply.status == 401
        assert reply.json["ok"] is False and reply.json["error"]["code"] == code
        assert reply.json["error"]["request_id"] == reply.headers["x-request-id"]
    reply = request("GET", accounts, headers={"x-api-key": revor.key})
    assert reply.status == 200 and reply.json["ok"] is True


def test_it_rejects_phone_numbers_that_are_not_e164(revrag: Client, voice: Client) -> None:
    agent_id = revrag("GET", "/v1/campaigns/agents").json[0]["id"]
    reply = revrag(
        "POST", "/v1/campaigns/trigger/single", {"agent_id": agent_id, "to_phone_number": "98765"}
    )
    assert reply.status == 422 and reply.json["success"] is False

    voice_agent = voice("GET", "/api/voice/agents").json["items"][0]["id"]
    reply = voice("POST", "/v1/calls", {"agent_id": voice_agent, "phone": "+0123"})
    assert (reply.status, reply.json) == (400, {"detail": "phone must be in E.164 format"})


# --------------------------------------------------------------------------- revrag lifecycle


def test_it_takes_a_revrag_call_from_queued_through_running_to_ended_with_a_recording(
    revrag: Client, admin: Admin
) -> None:
    admin.post(
        "script", {"vendor": "revrag", "outcomes": [{"reason": "AGENT_HANGUP", "duration": 30}]}
    )
    agent_id = revrag("GET", "/v1/campaigns/agents").json[0]["id"]
    trigger = {
        "agent_id": agent_id,
        "to_phone_number": "+919876543210",
        "variable_fields": {"customer_name": "Priya", "due_amount": 1200},
        "custom_metadata": {"lead": "L-1"},
    }
    created = revrag("POST", "/v1/campaigns/trigger/single", trigger)
    assert created.status == 200 and created.json["message"] == "Call queued"
    status_path = f"/v1/campaigns/trigger/status/{created.json['call_id']}"

    assert revrag("GET", status_path).json["call_status"] == "QUEUED"
    admin.advance(3.5)
    assert revrag("GET", status_path).json["call_status"] == "RUNNING"
    admin.advance(60)
    call = revrag("GET", status_path).json

    assert call["call_status"] == "ENDED"
    assert call["duration"] == 30 and call["disconnection_reason"] == "AGENT_HANGUP"
    assert call["summary"] and call["custom_variables"]
    assert call["variables_fields"] == trigger["variable_fields"]
    messages = call["transcription"]["messages"]
    assert messages and "Priya" in messages[0]["content"]
    assert {message["role"] for message in messages} <= {"agent", "user"}

    recording = request("GET", call["recording_url"])
    assert recording.status == 200 and recording.headers["accept-ranges"] == "bytes"
    with wave.open(io.BytesIO(recording.body)) as wav:
        assert wav.getnframes() / wav.getframerate() == call["duration"]
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)

    part = request("GET", call["recording_url"], headers={"Range": "bytes=1000-1999"})
    assert part.status == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(recording.body)}"
    assert part.body == recording.body[1000:2000]
    beyond = request("GET", call["recording_url"], headers={"Range": f"bytes={10**9}-"})
    assert beyond.status == 416
    assert beyond.headers["content-range"] == f"bytes */{len(recording.body)}"


def test_it_signs_the_revrag_call_ended_webhook(
    revrag: Client, admin: Admin, receiver: WebhookReceiver
) -> None:
    admin.post("config", {"vendor": "revrag", "webhook_url": receiver.url, "webhook_secret": "s3"})
    call = ended_revrag_call(revrag, admin, duration=12)

    delivery = receiver.wait_for(1)[0]
    headers, body = delivery["headers"], delivery["body"]
    timestamp = headers["x-webhook-timestamp"]
    expected = hmac.new(b"s3", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["x-webhook-signature"] == f"t={timestamp},v1={expected}"
    assert headers["x-webhook-event"] == "call.ended" and headers["x-webhook-id"]
    assert json.loads(body)["call_id"] == call["call_id"]


# --------------------------------------------------------------------------- idempotency


def test_it_replays_an_idempotent_request_and_rejects_a_changed_body(
    voice: Client, admin: Admin
) -> None:
    agent_id = voice("GET", "/api/voice/agents").json["items"][0]["id"]
    body = {"agent_id": agent_id, "phone": "+14155550111"}
    key = {"Idempotency-Key": "create-call-1"}

    first = voice("POST", "/v1/calls", body, headers=key)
    again = voice("POST", "/v1/calls", body, headers=key)
    changed = voice("POST", "/v1/calls", {**body, "phone": "+14155550112"}, headers=key)

    assert first.status == again.status == 201
    assert again.json["id"] == first.json["id"]
    assert changed.status == 409 and "detail" in changed.json
    assert admin.get("state/voice_platform")["calls"] == [first.json["id"]]
    seen = admin.get("log", vendor="voice_platform", method="POST", path_contains="/v1/calls")
    assert [entry["idempotency_key"] for entry in seen["items"]] == ["create-call-1"] * 3


def test_it_creates_the_resource_but_drops_the_connection_with_drop_after_create(
    voice: Client, admin: Admin
) -> None:
    admin.post("faults", {"vendor": "voice_platform", "drop_after_create": 1})
    agent_id = voice("GET", "/api/voice/agents").json["items"][0]["id"]
    body = {"agent_id": agent_id, "phone": "+14155550123"}
    key = {"Idempotency-Key": "dropped-once"}

    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        voice("POST", "/v1/calls", body, headers=key)
    held = admin.get("state/voice_platform")["calls"]
    assert len(held) == 1

    retried = voice("POST", "/v1/calls", body, headers=key)
    assert retried.status == 201 and retried.json["id"] == held[0]
    assert retried.headers["idempotent-replayed"] == "true"
    log = admin.get("log", vendor="voice_platform", method="POST")["items"]
    assert [(entry["status"], entry["dropped"]) for entry in log] == [(201, True), (201, False)]


# --------------------------------------------------------------------------- rate limits


def test_it_answers_429_with_the_documented_headers_once_the_limit_is_spent(
    revont: Client, revor: Client, admin: Admin
) -> None:
    admin.post("rate_limits", {"vendor": "revont", "limit": 3, "window_seconds": 60})
    admin.start_of_next_window(60)
    replies = [revont("GET", "/calls", query={"limit": 1}) for _ in range(4)]

    assert [reply.status for reply in replies] == [200, 200, 200, 429]
    assert [reply.headers["x-ratelimit-remaining"] for reply in replies] == ["2", "1", "0", "0"]
    limited = replies[-1]
    assert limited.json["error"]["code"] == "rate_limited"
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert int(limited.headers["x-ratelimit-reset"]) >= int(time.time())
    assert 1 <= int(limited.headers["retry-after"]) <= 60

    admin.advance(60)
    assert revont("GET", "/calls").status == 200

    admin.post("rate_limits", {"vendor": "revor", "limit": 1, "window_seconds": 60})
    admin.start_of_next_window(60)
    assert revor("GET", "/connect/accounts").status == 200
    limited = revor("GET", "/connect/accounts")
    assert limited.status == 429 and limited.json["error"]["code"] == "api_rate_limit_exceeded"
    assert limited.headers["x-ratelimit-window-ms"] == "60000"
    assert limited.headers["x-user-ratelimit-limit"] == "120"
    assert limited.headers["x-user-ratelimit-remaining"] == "119"
    assert "retry-after" in limited.headers


# --------------------------------------------------------------------------- revont


def test_it_walks_every_revont_record_exactly_once_and_resumes_from_a_stored_cursor(
    revont: Client, admin: Admin
) -> None:
    def walk(cursor: str | None) -> tuple[list[str], str | None]:
        seen: list[str] = []
        while True:
            query = {"limit": 7, **({"cursor": cursor} if cursor else {})}
            page = revont("GET", "/calls", query=query).json
            seen += [record["id"] for record in page["data"]]
            cursor = page["next_cursor"] or cursor
            if not page["has_more"]:
                return seen, cursor

    first_pass, stored_cursor = walk(None)
    held = admin.get("state/revont")["record_ids"]
    assert first_pass == held and len(set(first_pass)) == len(first_pass) > 7

    # New calls start every 12-28 s and their records appear when they end (<= 30 min).
    admin.advance(30)
    wait_until(lambda: admin.get("state/revont")["calls_in_progress"] == 1)
    admin.advance(1800)
    newer = wait_until(lambda: len(admin.get("state/revont")["record_ids"]) > len(held))
    assert newer

    second_pass, _ = walk(stored_cursor)
    assert second_pass == admin.get("state/revont")["record_ids"][len(held) :]
    assert not set(second_pass) & set(first_pass)
    # A client configured with the document's base URL (.../v1/calls) gets the same records.
    doubled = revont("GET", "/calls/calls", query={"limit": 3}).json["data"]
    assert [record["id"] for record in doubled] == first_pass[:3]


# --------------------------------------------------------------------------- revor


def test_it_runs_a_revor_dispatch_job_until_it_succeeds(revor: Client, admin: Admin) -> None:
    admin.post("script", {"vendor": "revor", "outcomes": [{"status": "succeeded"}]})
    account = revor("GET", "/connect/accounts", query={"channel": "email", "can_send": "true"})
    account_id = account.json["items"][0]["account_id"]
    dispatch = {
        "account_id": account_id,
        "channel": "email",
        "action": "outreach",
        "recipient": {"address": "lead@example.com"},
        "content": {"subject": "Hello", "text": "Following up on our call."},
    }

    created = revor("POST", "/outreach/dispatches", dispatch, headers={"Idempotency-Key": "d-1"})
    assert created.status == 202 and created.json["ok"] is True
    job = created.json["item"]
    assert job["status"] == "queued"
    assert created.json["request_id"] == created.headers["x-request-id"]

    admin.advance(10)
    finished = revor("GET", f"/outreach/jobs/{job['id']}").json["item"]
    assert finished["status"] == "succeeded"
    assert finished["result"]["resolved_action"] == "email_sent"
    assert finished["attempt_count"] == 1 and finished["error"] is None


# --------------------------------------------------------------------------- callcov


def test_it_completes_a_callcov_analysis_of_a_fetched_recording_and_posts_the_webhook(
    revrag: Client, callcov: Client, admin: Admin, receiver: WebhookReceiver
) -> None:
    call = ended_revrag_call(revrag, admin, duration=12)
    submitted = callcov(
        "POST",
        "/analysis/",
        {
            "audio_url": call["recording_url"],
            "agent_id": "agent-7",
            "webhook_url": receiver.url,
            "metadata": {"campaign_id": "summer"},
        },
    )
    assert submitted.status == 201 and submitted.json["status"] == "processing"

    admin.advance(10)
    posted = json.loads(receiver.wait_for(1)[0]["body"])
    assert posted["id"] == submitted.json["id"] and posted["status"] == "completed"
    assert posted["audio"]["size_bytes"] == 44 + 12 * 16000
    assert posted["audio"]["duration_seconds"] == 12
    assert posted["metadata"]["campaign_id"] == "summer"
    assert set(posted["results"]) == {"compliance", "quality", "coaching", "summary"}
    fetched = callcov("GET", f"/analysis/{posted['id']}").json
    assert fetched["status"] == "completed"


def test_it_reports_a_missing_audio_url_as_a_callcov_validation_error(callcov: Client) -> None:
    reply = callcov("POST", "/analysis/", {"metadata": {}})
    assert reply.status == 422
    assert reply.json["detail"][0]["loc"] == ["body", "audio_url"]
    assert reply.json["detail"][0]["type"] == "missing"


# --------------------------------------------------------------------------- voice webhooks


def test_it_does_not_duplicate_a_voice_webhook_registered_twice(voice: Client) -> None:
    registration = {"url": "http://127.0.0.1:9/hooks", "events": ["call.ended"]}
    replies: list[Reply] = []
    threads = [
        threading.Thread(target=lambda: replies.append(voice("POST", "/v1/webhooks", registration)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(reply.status for reply in replies) == [200, 200, 200, 200, 201]
    assert len({reply.json["id"] for reply in replies}) == 1
    assert len(voice("GET", "/v1/webhooks").json["items"]) == 1


def test_it_delivers_signed_voice_call_started_and_ended_events(
    voice: Client, admin: Admin, receiver: WebhookReceiver
) -> None:
    hook = voice(
        "POST",
        "/v1/webhooks",
        {"url": receiver.url, "events": ["call.started", "call.ended"], "secret": "topsecret"},
    ).json
    admin.post(
        "script",
        {"vendor": "voice_platform", "outcomes": [{"reason": "completed", "duration": 20}]},
    )
    agent_id = voice("GET", "/api/voice/agents").json["items"][0]["id"]
    call = voice("POST", "/v1/calls", {"agent_id": agent_id, "phone": "+14155550199"}).json

    admin.advance(120)
    deliveries = receiver.wait_for(2)
    events = sorted(deliveries, key=lambda d: json.loads(d["body"])["type"], reverse=True)
    assert [json.loads(d["body"])["type"] for d in events] == ["call.started", "call.ended"]
    for delivery in events:
        headers, body = delivery["headers"], delivery["body"]
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        digest = hmac.new(hook["secret"].encode(), signed, hashlib.sha256).digest()
        assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    ended = json.loads(events[1]["body"])["data"]
    assert ended["id"] == call["id"] and ended["end_reason"] == "completed"
    assert ended["duration_seconds"] == 20 and ended["transcript"]


# --------------------------------------------------------------------------- voice configuration


def multipart(field: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = "sandbox-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def upload(voice: Client, name: str, content: bytes, content_type: str = "audio/wav") -> Reply:
    body, header = multipart("file", "sample.wav", content, content_type)
    parts = urlsplit(voice.base + f"/api/voice/models/speakers/{name}/dataset/sample")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(
            "POST", parts.path, body=body, headers={**bearer(voice.key), "Content-Type": header}
        )
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def wav_sample() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    return buffer.getvalue()


def test_it_trains_a_speaker_from_created_to_deployed(voice: Client, admin: Admin) -> None:
    created = voice("POST", "/api/voice/models/speakers", {"name": "ada", "language": "en"})
    early = voice("POST", "/api/voice/models/speakers/ada/deploy")
    sampled = upload(voice, "ada", wav_sample())
    deploying = voice("POST", "/api/voice/models/speakers/ada/deploy")
    during = voice("GET", "/api/voice/models/speakers/ada").json
    admin.advance(6)
    after = voice("GET", "/api/voice/models/speakers/ada").json

    assert (created.status, created.json) == (
        201,
        {"name": "ada", "status": "created", "samples": 0},
    )
    assert (early.status, early.json) == (409, {"detail": "Speaker has no samples to train on"})
    assert (sampled.status, sampled.json) == (201, {"name": "ada", "samples": 1})
    assert (deploying.status, deploying.json["status"]) == (202, "deploying")
    assert during["status"] == "deploying"
    assert after == {"name": "ada", "language": "en", "status": "deployed", "samples": 1}
    listed = voice("GET", "/api/voice/models/speakers").json["items"]
    assert [item["name"] for item in listed] == ["ada"]
    duplicate = voice("POST", "/api/voice/models/speakers", {"name": "ada"})
    assert (duplicate.status, duplicate.json) == (409, {"detail": "Speaker already exists"})


def test_it_refuses_a_sample_that_is_not_audio(voice: Client) -> None:
    voice("POST", "/api/voice/models/speakers", {"name": "bo"})

    text = upload(voice, "bo", b"hello, I am not a recording")
    wrong_type = upload(voice, "bo", wav_sample(), content_type="text/plain")
    missing = upload(voice, "nobody", wav_sample())

    assert (text.status, text.json) == (400, {"detail": "file is not a recognised audio format"})
    assert (wrong_type.status, wrong_type.json) == (400, {"detail": "file must be audio/*"})
    assert (missing.status, missing.json) == (404, {"detail": "Speaker not found"})
    assert voice("GET", "/api/voice/models/speakers/bo").json["samples"] == 0


def test_it_answers_a_repeated_customer_import_from_its_record(voice: Client, admin: Admin) -> None:
    batch = {"customers": [{"phone": "+14155550101", "name": "Ann"}, {"phone": "nope"}]}
    key = {"Idempotency-Key": "push-1-batch-0"}

    first = voice("POST", "/api/voice/customers/import", batch, headers=key)
    again = voice("POST", "/api/voice/customers/import", batch, headers=key)
    unkeyed = voice("POST", "/api/voice/customers/import", batch)

    assert first.json["results"][0]["status"] == "created"
    assert first.json["results"][1] == {
        "index": 1,
        "status": "error",
        "detail": "phone must be in E.164 format",
    }
    assert again.json == first.json and again.headers["idempotent-replayed"] == "true"
    assert unkeyed.json["results"][0]["status"] == "updated"
    assert admin.get("state/voice_platform")["contacts"] == 1


def test_it_limits_speaker_creation_to_five_a_minute(voice: Client, admin: Admin) -> None:
    admin.start_of_next_window(60)
    replies = [voice("POST", "/api/voice/models/speakers", {"name": f"s{n}"}) for n in range(6)]

    assert [reply.status for reply in replies] == [201] * 5 + [429]
    assert replies[-1].json == {"detail": "Rate limit exceeded: 5/minute"}
    assert int(replies[-1].headers["retry-after"]) >= 1
