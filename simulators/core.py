"""Shared machinery of the sandbox: clock, scheduler, HTTP helpers, router, rate limiter,
idempotency store, fault injection, request log and API keys.

Nothing here knows about a particular vendor; the vendor modules plug into it.
"""

from __future__ import annotations

import email.policy
import hashlib
import heapq
import itertools
import json
import math
import random
import re
import secrets
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs

E164_PATTERN = re.compile(r"^\+[1-9]\d{6,14}$")

# The id of the request being handled; every request runs on its own server thread.
CURRENT_REQUEST_ID: ContextVar[str] = ContextVar("current_request_id", default="")

HTTP_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    416: "Range Not Satisfiable",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def is_e164(value: Any) -> bool:
    return isinstance(value, str) and bool(E164_PATTERN.match(value))


def iso_utc(timestamp: float | None) -> str | None:
    """ISO 8601 with an explicit UTC offset, or None for 'not known yet'."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def parse_time(value: str) -> float:
    """Accept unix seconds or ISO 8601 (a trailing Z or no offset means UTC)."""
    try:
        return float(value)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# --------------------------------------------------------------------------- clock


class Clock:
    """The sandbox's wall clock: real time plus whatever `/_sim/clock` advanced.

    Speed does not warp this clock; speed shortens the vendors' processes instead (see
    README), so rate-limit headers stay comparable with the client's own clock.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
        for listener in self._listeners:
            listener()
        return self.now()

    def on_advance(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)


class Scheduler:
    """Runs callbacks at sandbox-clock times on one background thread.

    Callbacks must be quick; anything doing network I/O starts its own thread. Every task
    carries the epoch it was scheduled in, so `/_sim/reset` can drop pending work at once.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._queue: list[tuple[float, int, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._epoch = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)
        clock.on_advance(self.wake)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def wake(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def at(self, due: float, callback: Callable[[], None]) -> None:
        with self._condition:
            heapq.heappush(self._queue, (due, next(self._sequence), self._epoch, callback))
            self._condition.notify_all()

    def forget_pending(self) -> None:
        with self._condition:
            self._epoch += 1
            self._queue.clear()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopped:
                    now = self._clock.now()
                    if self._queue and self._queue[0][0] <= now:
                        break
                    wait = 0.5 if not self._queue else min(0.5, self._queue[0][0] - now)
                    self._condition.wait(timeout=max(wait, 0.001))
                if self._stopped:
                    return
                _, _, epoch, callback = heapq.heappop(self._queue)
                if epoch != self._epoch:
                    continue
            try:
                callback()
            except Exception as error:  # a broken task must not stop the scheduler
                print(f"simulators: scheduled task failed: {error!r}", file=sys.stderr)


# --------------------------------------------------------------------------- HTTP


class DropConnection(Exception):
    """Raised by the app to make the server close the TCP connection without a response."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    remote_addr: str
    params: dict[str, str] = field(default_factory=dict)
    request_id: str = ""
    api_key: str | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        headers = {
            name[5:].replace("_", "-").lower(): value
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        return cls(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("PATH_INFO", "/") or "/",
            query=query,
            headers=headers,
            body=body,
            remote_addr=environ.get("REMOTE_ADDR", ""),
        )

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The parsed JSON body; raises ValueError when it is not JSON."""
        if not self.body.strip():
            raise ValueError("empty body")
        return json.loads(self.body)

    def body_fingerprint(self) -> str:
        try:
            material = canonical_json(self.json())
        except ValueError:
            material = self.body.hex()
        return hashlib.sha256(material.encode()).hexdigest()


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Set by handlers that created a resource; the drop_after_create fault keys on it.
    creates: bool = False

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTP_REASONS.get(self.status, 'Unknown')}"


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, default=str).encode()
    all_headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    all_headers.update(headers or {})
    return Response(status, body, all_headers)


def empty_response(status: int = 204) -> Response:
    return Response(status, b"", {"Content-Length": "0"})


# --------------------------------------------------------------------------- routing


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    scopes: tuple[str, ...] = ()
    rate_group: str | None = None
    authenticated: bool = True
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        parts = re.split(r"\{(\w+)\}", self.template)
        # Even parts are literal text, odd parts are parameter names.
        regex = "".join(
            f"(?P<{part}>[^/]+?)" if index % 2 else re.escape(part)
            for index, part in enumerate(parts)
        )
        self.pattern = re.compile(f"^{regex}$")


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, **options: Any) -> None:
        self.routes.append(Route(method, template, handler, **options))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return (route, params, path_exists); path_exists tells 405 from 404."""
        path_exists = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            path_exists = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict(), True
        return None, {}, path_exists


# --------------------------------------------------------------------------- API keys


@dataclass
class ApiKey:
    key: str
    state: str = "valid"  # valid | expired | revoked
    scopes: list[str] | None = None  # None: every scope

    def allows(self, required: Iterable[str]) -> bool:
        return self.scopes is None or all(scope in self.scopes for scope in required)

    @property
    def suffix(self) -> str:
        return self.key[-4:]


class KeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}
        self._lock = threading.Lock()

    def put(self, key: str, state: str = "valid", scopes: list[str] | None = None) -> ApiKey:
        with self._lock:
            record = ApiKey(key, state, scopes)
            self._keys[key] = record
            return record

    def get(self, key: str | None) -> ApiKey | None:
        if not key:
            return None
        with self._lock:
            return self._keys.get(key)


# --------------------------------------------------------------------------- rate limits


@dataclass
class RateLimit:
    limit: int
    window_seconds: float


@dataclass
class WindowState:
    limit: int
    remaining: int
    reset_at: float  # sandbox-clock seconds when the window ends
    window_seconds: float
    allowed: bool

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.reset_at - now))


class RateLimiter:
    """Fixed windows aligned on multiples of the window length (sandbox clock)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, ...], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def _window(self, rule: RateLimit, now: float) -> tuple[float, float]:
        start = math.floor(now / rule.window_seconds) * rule.window_seconds
        return start, start + rule.window_seconds

    def peek(self, bucket: tuple[str, ...], rule: RateLimit) -> WindowState:
        now = self._clock.now()
        start, end = self._window(rule, now)
        with self._lock:
            window_start, used = self._counts.get(bucket, (start, 0))
        if window_start != start:
            used = 0
        remaining = max(0, rule.limit - used)
        return WindowState(rule.limit, remaining, end, rule.window_seconds, remaining > 0)

    def hit_all(self, buckets: list[tuple[tuple[str, ...], RateLimit]]) -> list[WindowState]:
        """Count one request against every bucket, all or nothing.

        When any bucket is exhausted nothing is counted, so a rejected request does not
        eat the quota of the other bucket (Revor's key and account windows).
        """
        now = self._clock.now()
        with self._lock:
            current = []
            for bucket, rule in buckets:
                start, end = self._window(rule, now)
                window_start, used = self._counts.get(bucket, (start, 0))
                if window_start != start:
                    used = 0
                current.append((bucket, rule, start, end, used))
            allowed = all(used < rule.limit for _, rule, _, _, used in current)
            states = []
            for bucket, rule, start, end, used in current:
                if allowed:
                    used += 1
                    self._counts[bucket] = (start, used)
                remaining = max(0, rule.limit - used)
                states.append(WindowState(rule.limit, remaining, end, rule.window_seconds, allowed))
            return states


# --------------------------------------------------------------------------- idempotency


@dataclass
class IdempotencyRecord:
    fingerprint: str
    created_at: float
    done: threading.Event = field(default_factory=threading.Event)
    response: Response | None = None


class IdempotencyStore:
    """Stored responses keyed by (vendor, api key, path, Idempotency-Key).

    Only 2xx responses are kept: a request that failed (429, 503, validation) can be retried
    with the same key and really run. A concurrent duplicate waits for the first to finish.
    """

    TTL_SECONDS = 24 * 3600

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: dict[tuple[str, str, str, str], IdempotencyRecord] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def begin(
        self, scope: tuple[str, str, str, str], fingerprint: str
    ) -> tuple[str, IdempotencyRecord]:
        """Return ("new" | "replay" | "conflict", record)."""
        now = self._clock.now()
        with self._lock:
            record = self._records.get(scope)
            if record and record.done.is_set() and now - record.created_at > self.TTL_SECONDS:
                record = None
            if record is None:
                record = IdempotencyRecord(fingerprint, now)
                self._records[scope] = record
                return "new", record
        if record.fingerprint != fingerprint:
            return "conflict", record
        record.done.wait(timeout=60)
        if record.response is None:
            # The original attempt failed and was forgotten: run this one for real.
            return self.begin(scope, fingerprint)
        return "replay", record

    def finish(
        self, scope: tuple[str, str, str, str], record: IdempotencyRecord, response: Response
    ) -> None:
        with self._lock:
            if 200 <= response.status < 300 and isinstance(response.body, bytes):
                record.response = response
            elif self._records.get(scope) is record:
                del self._records[scope]
        record.done.set()


# --------------------------------------------------------------------------- faults


@dataclass
class Faults:
    error_rate: float = 0.0
    error_status: int = 503
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    # Held after a creating POST has created its resource, before the answer is written: the
    # window in which a client that dies has been served but does not know it.
    latency_after_create_ms: float = 0.0
    fail_next: list[int] = field(default_factory=list)
    burst_429: int = 0
    drop_after_create: int = 0
    drop_before_response: int = 0
    duplicate_webhooks: int = 0

    FIELDS = (
        "error_rate",
        "error_status",
        "latency_ms",
        "latency_jitter_ms",
        "latency_after_create_ms",
        "fail_next",
        "burst_429",
        "drop_after_create",
        "drop_before_response",
        "duplicate_webhooks",
    )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}


class FaultInjector:
    """Per-vendor fault knobs; the one-shot counters are consumed atomically."""

    def __init__(self, vendors: Iterable[str], rng: random.Random) -> None:
        self._vendors = list(vendors)
        self._rng = rng
        self._lock = threading.Lock()
        self._faults = {vendor: Faults() for vendor in self._vendors}

    def reset(self) -> None:
        with self._lock:
            self._faults = {vendor: Faults() for vendor in self._vendors}

    def update(self, vendor: str | None, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(Faults.FIELDS) - {"vendor"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        for key, value in changes.items():
            if key == "fail_next":
                if not isinstance(value, list) or not all(
                    isinstance(status, int) and 400 <= status <= 599 for status in value
                ):
                    raise ValueError("fail_next must be a list of HTTP error statuses")
            elif key == "error_rate":
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise ValueError("error_rate must be between 0 and 1")
            elif key == "error_status":
                if not isinstance(value, int) or not 400 <= value <= 599:
                    raise ValueError("error_status must be an HTTP error status")
            elif key != "vendor" and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"{key} must be a number >= 0")
        targets = [vendor] if vendor else self._vendors
        with self._lock:
            for name in targets:
                faults = self._faults[name]
                for key, value in changes.items():
                    if key == "vendor":
                        continue
                    setattr(faults, key, list(value) if key == "fail_next" else value)
            return {name: self._faults[name].as_dict() for name in targets}

    def take_counter(self, vendor: str, name: str) -> bool:
        with self._lock:
            faults = self._faults[vendor]
            if getattr(faults, name) > 0:
                setattr(faults, name, getattr(faults, name) - 1)
                return True
            return False

    def take_fail_next(self, vendor: str) -> int | None:
        with self._lock:
            faults = self._faults[vendor]
            return faults.fail_next.pop(0) if faults.fail_next else None

    def latency_seconds(self, vendor: str) -> float:
        with self._lock:
            faults = self._faults[vendor]
            jitter = (
                self._rng.uniform(0, faults.latency_jitter_ms) if faults.latency_jitter_ms else 0
            )
            return (faults.latency_ms + jitter) / 1000

    def latency_after_create_seconds(self, vendor: str) -> float:
        with self._lock:
            return self._faults[vendor].latency_after_create_ms / 1000

    def random_error(self, vendor: str) -> int | None:
        with self._lock:
            faults = self._faults[vendor]
            if faults.error_rate and self._rng.random() < faults.error_rate:
                return faults.error_status
            return None

    def webhook_copies(self, vendor: str) -> int:
        with self._lock:
            return max(1, self._faults[vendor].duplicate_webhooks)


# --------------------------------------------------------------------------- request log


class RequestLog:
    """What the sandbox saw, for tests to assert on. Bounded so hammering cannot exhaust memory."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def query(
        self,
        vendor: str | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries)
        return [
            entry
            for entry in entries
            if (not vendor or entry["vendor"] == vendor)
            and (not method or entry["method"] == method.upper())
            and (not path_contains or path_contains in entry["path"])
            and (since is None or entry["t"] >= since)
        ]


def stable_id(kind: str, name: str) -> str:
    """Ids of seeded resources survive resets and restarts, so clients can keep them."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"callops-sandbox/{kind}/{name}"))


@dataclass
class UploadedPart:
    filename: str | None
    content_type: str
    content: bytes


def parse_multipart(request: Request) -> dict[str, UploadedPart]:
    """The parts of a multipart/form-data body by field name; raises ValueError if malformed."""
    if request.content_type != "multipart/form-data":
        raise ValueError("expected multipart/form-data")
    header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(header + request.body)
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    parts: dict[str, UploadedPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        parts[str(name)] = UploadedPart(part.get_filename(), part.get_content_type(), payload)
    return parts


def random_key(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(24)
