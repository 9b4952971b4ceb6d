"""The base every simulated vendor builds on, and the context the sandbox shares with them."""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from .audio import AGENT, CUSTOMER, WavRecording, parse_range
from .core import (
    Clock,
    FaultInjector,
    KeyStore,
    RateLimit,
    Request,
    Response,
    Route,
    Router,
    Scheduler,
    WindowState,
    empty_response,
)
from .lifecycle import CallPlan
from .lifecycle import script_item_is_valid as call_script_item_is_valid
from .webhooks import Delivery, HeaderBuilder, WebhookDispatcher


@dataclass
class SandboxContext:
    clock: Clock
    scheduler: Scheduler
    webhooks: WebhookDispatcher
    faults: FaultInjector
    seed: int | None
    speed: float
    origin: str = "http://127.0.0.1"  # set to http://127.0.0.1:PORT once the port is bound


class Vendor:
    """One simulated vendor: its routes, auth style, error shape, rate limits and state.

    Subclasses register routes in `register_routes`, seed their resources in `seed`, and
    override the small hooks below for their own auth headers, error bodies and limits.
    """

    name = ""
    prefix = ""
    default_rate_limit = RateLimit(60, 60.0)
    # Endpoint groups with their own documented limit, e.g. {"POST /v1/calls": RateLimit(30, 60)}.
    documented_limits: dict[str, RateLimit] = {}
    key_prefix = ""

    def __init__(self, context: SandboxContext, api_key: str) -> None:
        self.context = context
        self.clock = context.clock
        self.keys = KeyStore()
        self.keys.put(api_key)
        self.api_key = api_key
        self.router = Router()
        self.lock = threading.RLock()
        self.speed: float | None = None  # None: the sandbox-wide speed
        self.rate_overrides: dict[str, RateLimit] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str = f"whsec_{self.name}_sandbox"
        self.script: deque[dict[str, Any]] = deque()
        self.rng = random.Random(
            f"{context.seed}:{self.name}" if context.seed is not None else None
        )
        self.register_routes()
        self.reset()

    # ----------------------------------------------------------------- basics

    @property
    def base_url(self) -> str:
        return self.context.origin + self.prefix

    @property
    def effective_speed(self) -> float:
        return self.speed or self.context.speed

    def scaled(self, vendor_seconds: float) -> float:
        """How long `vendor_seconds` of the vendor's process take on the sandbox clock."""
        return vendor_seconds / self.effective_speed

    def route(self, method: str, template: str, handler: Any, **options: Any) -> None:
        self.router.add(method, template, handler, **options)

    def reset(self) -> None:
        """Forget every resource and re-create the seeded ones."""
        with self.lock:
            self.script.clear()
            self.seed()

    def take_scripted(self) -> dict[str, Any] | None:
        with self.lock:
            return self.script.popleft() if self.script else None

    def send_webhook(
        self, url: str, event: str, event_id: str, payload: Any, build_headers: HeaderBuilder
    ) -> None:
        delivery = Delivery(
            self.name, url, event, event_id, payload, build_headers, self.effective_speed
        )
        self.context.webhooks.send(delivery, copies=self.context.faults.webhook_copies(self.name))

    # ----------------------------------------------------------------- hooks

    accepts_script = False  # whether /_sim/script applies to this vendor
    accepts_webhook_config = False  # whether /_sim/config may set webhook_url / webhook_secret

    def register_routes(self) -> None:
        raise NotImplementedError

    def start_background_work(self) -> None:
        """Schedule recurring work (after start and after every reset)."""

    def script_item_is_valid(self, item: Any) -> bool:
        return call_script_item_is_valid(item)

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply `/_sim/config` settings other than speed; raise ValueError on bad input."""
        webhook_settings = {"webhook_url", "webhook_secret"} & set(settings)
        if webhook_settings and not self.accepts_webhook_config:
            raise ValueError(f"{self.name} webhooks are not configured through /_sim/config")
        unknown = set(settings) - {"vendor", "speed", "webhook_url", "webhook_secret"}
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        if "webhook_url" in settings:
            url = settings["webhook_url"]
            if url is not None and not (isinstance(url, str) and url.startswith("http")):
                raise ValueError("webhook_url must be an http(s) URL or null")
            self.webhook_url = url
        if "webhook_secret" in settings:
            if not isinstance(settings["webhook_secret"], str):
                raise ValueError("webhook_secret must be a string")
            self.webhook_secret = settings["webhook_secret"]

    def config_summary(self) -> dict[str, Any]:
        return {
            "speed": self.effective_speed,
            "webhook_url": self.webhook_url,
            "webhook_secret": self.webhook_secret,
        }

    def seed(self) -> None:
        raise NotImplementedError

    def state_summary(self) -> dict[str, Any]:
        raise NotImplementedError

    def extract_key(self, request: Request) -> str | None:
        return bearer_token(request)

    def error(self, status: int, message: str, code: str | None = None) -> Response:
        raise NotImplementedError

    def auth_error(self, problem: str) -> Response:
        """`problem` is one of missing, invalid, expired, revoked."""
        return self.error(401, "Invalid or missing API key", "unauthorized")

    def forbidden(self, route: Route) -> Response:
        return self.error(403, "The API key lacks permission for this action", "forbidden")

    def rate_buckets(
        self, route: Route, api_key: str
    ) -> list[tuple[tuple[str, ...], RateLimit, str]]:
        """(bucket, rule, role) for every window this request counts against."""
        group = route.rate_group or "default"
        return [((self.name, api_key, group), self.rule_for(group), "key")]

    def rule_for(self, group: str) -> RateLimit:
        """An admin override first, then the documented limit, then the vendor default."""
        if group in self.rate_overrides:
            return self.rate_overrides[group]
        if group in self.documented_limits:
            return self.documented_limits[group]
        return self.rate_overrides.get("default", self.default_rate_limit)

    def rate_headers(self, states: list[tuple[WindowState, str]]) -> dict[str, str]:
        state = states[0][0]
        return {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(math.ceil(state.reset_at)),
        }

    def rate_limited(self, route: Route) -> Response:
        return self.error(429, "Rate limit exceeded", "rate_limited")

    def error_for_status(self, status: int) -> Response:
        """The vendor's body for an injected failure status."""
        messages = {
            429: "Rate limit exceeded",
            500: "Internal server error",
            502: "Bad gateway",
            503: "Service temporarily unavailable",
            504: "Gateway timeout",
        }
        return self.error(status, messages.get(status, "Injected failure"))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def recording_for(plan: CallPlan) -> WavRecording:
    turns = [
        (turn.start, turn.end, AGENT if turn.speaker == "agent" else CUSTOMER)
        for turn in plan.transcript
    ]
    return WavRecording(plan.duration, turns, plan.voice)


def serve_recording(request: Request, recording: WavRecording) -> Response:
    """A WAV with byte-range support: 206 for a satisfiable Range, 416 otherwise."""
    size = recording.size
    common = {"Content-Type": "audio/wav", "Accept-Ranges": "bytes"}
    wanted = parse_range(request.headers.get("range"), size)
    if wanted == "unsatisfiable":
        response = empty_response(416)
        response.headers.update({**common, "Content-Range": f"bytes */{size}"})
        return response
    if wanted is None:
        first, last, status = 0, size - 1, 200
    else:
        first, last = wanted
        status = 206
        common["Content-Range"] = f"bytes {first}-{last}/{size}"
    length = max(0, last - first + 1)
    body = recording.iter_bytes(first, last) if length else iter(())
    return Response(status, body, {**common, "Content-Length": str(length)})
