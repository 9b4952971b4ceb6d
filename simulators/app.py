"""The sandbox WSGI application: the per-request pipeline shared by all vendors, and `/_sim`."""

from __future__ import annotations

import json
import random
import secrets
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from .callcov import CallCov
from .core import (
    CURRENT_REQUEST_ID,
    Clock,
    DropConnection,
    FaultInjector,
    IdempotencyStore,
    RateLimit,
    RateLimiter,
    Request,
    RequestLog,
    Response,
    Route,
    Scheduler,
    json_response,
    random_key,
)
from .revont import Revont
from .revor import Revor
from .revrag import Revrag
from .vendor import SandboxContext, Vendor
from .voice_platform import VoicePlatform
from .webhooks import WebhookDispatcher

VENDOR_CLASSES: list[type[Vendor]] = [Revrag, VoicePlatform, Revont, CallCov, Revor]
VENDOR_NAMES = [cls.name for cls in VENDOR_CLASSES]
LOOPBACK_ADDRESSES = {"127.0.0.1", "::1", "::ffff:127.0.0.1", ""}
KEY_STATES = {"valid", "expired", "revoked"}


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SandboxApp:
    """WSGI callable. Vendor paths go through auth, faults, rate limits and idempotency."""

    def __init__(
        self,
        speed: float = 1.0,
        keys: dict[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        self.clock = Clock()
        self.scheduler = Scheduler(self.clock)
        self.rate_limiter = RateLimiter(self.clock)
        self.idempotency = IdempotencyStore(self.clock)
        self.log = RequestLog()
        fault_rng = random.Random(f"{seed}:faults" if seed is not None else None)
        self.context = SandboxContext(
            clock=self.clock,
            scheduler=self.scheduler,
            webhooks=WebhookDispatcher(self.clock, self.scheduler),
            faults=FaultInjector(VENDOR_NAMES, fault_rng),
            seed=seed,
            speed=speed,
        )
        keys = keys or {}
        unknown = set(keys) - set(VENDOR_NAMES)
        if unknown:
            raise ValueError(f"unknown vendors in keys: {sorted(unknown)}")
        self.vendors: dict[str, Vendor] = {
            cls.name: cls(self.context, keys.get(cls.name) or random_key(cls.key_prefix))
            for cls in VENDOR_CLASSES
        }
        self.admin_routes: dict[tuple[str, str], Callable[[Request, Any], Any]] = {
            ("GET", "health"): self.admin_health,
            ("POST", "reset"): self.admin_reset,
            ("POST", "faults"): self.admin_faults,
            ("POST", "rate_limits"): self.admin_rate_limits,
            ("POST", "config"): self.admin_config,
            ("POST", "keys"): self.admin_keys,
            ("POST", "script"): self.admin_script,
            ("POST", "clock"): self.admin_clock,
            ("GET", "log"): self.admin_log,
            ("GET", "webhooks"): self.admin_webhooks,
        }

    def start_background_work(self) -> None:
        self.scheduler.start()
        for vendor in self.vendors.values():
            vendor.start_background_work()

    def stop_background_work(self) -> None:
        self.scheduler.stop()

    def set_origin(self, origin: str) -> None:
        self.context.origin = origin

    @property
    def base_urls(self) -> dict[str, str]:
        return {name: vendor.base_url for name, vendor in self.vendors.items()}

    @property
    def api_keys(self) -> dict[str, str]:
        return {name: vendor.api_key for name, vendor in self.vendors.items()}

    # ----------------------------------------------------------------- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        request.request_id = "req_" + secrets.token_hex(8)
        CURRENT_REQUEST_ID.set(request.request_id)
        response = self.dispatch(request)
        response.headers.setdefault("X-Request-Id", request.request_id)
        start_response(response.status_line, list(response.headers.items()))
        return [response.body] if isinstance(response.body, bytes) else response.body

    def dispatch(self, request: Request) -> Response:
        if request.path == "/_sim" or request.path.startswith("/_sim/"):
            return self.handle_admin(request)
        for vendor in self.vendors.values():
            if request.path == vendor.prefix or request.path.startswith(vendor.prefix + "/"):
                return self.handle_vendor(vendor, request)
        return json_response(404, {"detail": "Not found"})

    # ----------------------------------------------------------------- vendor pipeline

    def handle_vendor(self, vendor: Vendor, request: Request) -> Response:
        entry: dict[str, Any] = {
            "t": self.clock.now(),
            "vendor": vendor.name,
            "method": request.method,
            "path": request.path,
            "status": None,
            "idempotency_key": request.headers.get("idempotency-key"),
            "api_key_suffix": None,
            "request_id": request.request_id,
            "dropped": False,
        }
        try:
            response = self.run_pipeline(vendor, request, entry)
        except DropConnection:
            entry["dropped"] = True
            self.log.add(entry)
            raise
        except Exception:  # a handler bug answers 500 in the vendor's shape, not a dead socket
            traceback.print_exc(file=sys.stderr)
            response = vendor.error_for_status(500)
        entry["status"] = response.status
        self.log.add(entry)
        return response

    def run_pipeline(self, vendor: Vendor, request: Request, entry: dict[str, Any]) -> Response:
        subpath = request.path[len(vendor.prefix) :] or "/"
        route, params, path_exists = vendor.router.match(request.method, subpath)
        if route is None:
            if path_exists:
                return vendor.error(405, "Method not allowed", "method_not_allowed")
            return vendor.error(404, "Not found", "not_found")
        request.params = params
        if not route.authenticated:
            return route.handler(request)

        faults = self.context.faults
        if faults.take_counter(vendor.name, "drop_before_response"):
            raise DropConnection
        latency = faults.latency_seconds(vendor.name)
        if latency > 0:
            time.sleep(latency)

        api_key = vendor.extract_key(request)
        key_record = vendor.keys.get(api_key)
        entry["api_key_suffix"] = api_key[-4:] if api_key else None
        injected = self.injected_failure(vendor, route, api_key)
        if injected is not None:
            return injected
        if not api_key:
            return vendor.auth_error("missing")
        if key_record is None:
            return vendor.auth_error("invalid")
        if key_record.state != "valid":
            return vendor.auth_error(key_record.state)
        if not key_record.allows(route.scopes):
            return vendor.forbidden(route)
        request.api_key = key_record.key

        buckets = vendor.rate_buckets(route, key_record.key)
        states = self.rate_limiter.hit_all([(bucket, rule) for bucket, rule, _ in buckets])
        labelled = [(state, role) for state, (_, _, role) in zip(states, buckets, strict=True)]
        rate_headers = vendor.rate_headers(labelled)
        if not states[0].allowed:
            retry_after = max(state.retry_after(self.clock.now()) for state in states)
            response = vendor.rate_limited(route)
            response.headers.update({**rate_headers, "Retry-After": str(retry_after)})
            return response

        response = self.run_handler(vendor, route, request)
        response.headers.update(rate_headers)
        if response.creates and faults.take_counter(vendor.name, "drop_after_create"):
            entry["status"] = response.status
            raise DropConnection
        if response.creates:
            held = faults.latency_after_create_seconds(vendor.name)
            if held > 0:
                time.sleep(held)
        return response

    def injected_failure(
        self, vendor: Vendor, route: Route, api_key: str | None
    ) -> Response | None:
        faults = self.context.faults
        status = faults.take_fail_next(vendor.name)
        if status is None and faults.take_counter(vendor.name, "burst_429"):
            status = 429
        if status is None:
            status = faults.random_error(vendor.name)
        if status is None:
            return None
        if status != 429:
            return vendor.error_for_status(status)
        # An injected 429 looks like a real one: exhausted window, headers, Retry-After.
        buckets = vendor.rate_buckets(route, api_key or "anonymous")
        states = [self.rate_limiter.peek(bucket, rule) for bucket, rule, _ in buckets]
        for state in states:
            state.remaining = 0
        labelled = [(state, role) for state, (_, _, role) in zip(states, buckets, strict=True)]
        response = vendor.rate_limited(route)
        retry_after = max(state.retry_after(self.clock.now()) for state in states)
        response.headers.update({**vendor.rate_headers(labelled), "Retry-After": str(retry_after)})
        return response

    def run_handler(self, vendor: Vendor, route: Route, request: Request) -> Response:
        idempotency_key = request.headers.get("idempotency-key")
        if request.method != "POST" or not idempotency_key:
            return route.handler(request)
        scope = (vendor.name, request.api_key or "", request.path, idempotency_key)
        outcome, record = self.idempotency.begin(scope, request.body_fingerprint())
        if outcome == "conflict":
            return vendor.error(
                409,
                "Idempotency-Key was already used with a different request body",
                "idempotency_conflict",
            )
        if outcome == "replay" and record.response is not None:
            original = record.response
            headers = {
                name: value
                for name, value in original.headers.items()
                if not name.lower().startswith(("x-ratelimit", "x-user-ratelimit"))
            }
            headers["Idempotent-Replayed"] = "true"
            return Response(original.status, original.body, headers)
        response = Response(500, b"")
        try:
            response = route.handler(request)
        finally:
            self.idempotency.finish(scope, record, response)
        return response

    # ----------------------------------------------------------------- admin

    def handle_admin(self, request: Request) -> Response:
        if request.remote_addr not in LOOPBACK_ADDRESSES:
            return json_response(403, {"detail": "The sandbox admin is loopback only"})
        name = request.path[len("/_sim") :].strip("/")
        action = name.split("/", 1)[0]
        try:
            payload: Any = request.json() if request.method == "POST" and request.body else {}
        except ValueError:
            return json_response(400, {"detail": "Body must be JSON"})
        if not isinstance(payload, dict):
            return json_response(400, {"detail": "Body must be a JSON object"})
        try:
            if request.method == "GET" and action == "state":
                return json_response(200, self.admin_state(name.partition("/")[2]))
            handler = self.admin_routes.get((request.method, name))
            if handler is None:
                return json_response(404, {"detail": f"Unknown admin endpoint {request.path}"})
            return json_response(200, handler(request, payload))
        except AdminError as error:
            return json_response(error.status, {"detail": str(error)})

    def vendor_named(self, name: Any, required: bool = True) -> Vendor | None:
        if name is None and not required:
            return None
        if name not in self.vendors:
            raise AdminError(400, f"vendor must be one of {VENDOR_NAMES}")
        return self.vendors[name]

    def admin_health(self, request: Request, payload: dict) -> dict:
        return {
            "ok": True,
            "now": self.clock.now(),
            "clock_offset_seconds": self.clock.offset,
            "speed": self.context.speed,
            "base_urls": self.base_urls,
        }

    def admin_reset(self, request: Request, payload: dict) -> dict:
        self.scheduler.forget_pending()
        self.log.reset()
        self.idempotency.reset()
        self.rate_limiter.reset()
        self.context.faults.reset()
        self.context.webhooks.reset()
        for vendor in self.vendors.values():
            vendor.reset()
            vendor.start_background_work()
        return {"ok": True}

    def admin_faults(self, request: Request, payload: dict) -> dict:
        vendor = self.vendor_named(payload.get("vendor"), required=False)
        try:
            updated = self.context.faults.update(vendor.name if vendor else None, payload)
        except (ValueError, TypeError) as error:
            raise AdminError(400, str(error)) from error
        return {"ok": True, "faults": updated}

    def admin_rate_limits(self, request: Request, payload: dict) -> dict:
        vendor = self.vendor_named(payload.get("vendor"))
        try:
            rule = RateLimit(int(payload["limit"]), float(payload["window_seconds"]))
        except (KeyError, TypeError, ValueError) as error:
            raise AdminError(400, "limit (int) and window_seconds (number) are required") from error
        if rule.limit < 0 or rule.window_seconds <= 0:
            raise AdminError(400, "limit must be >= 0 and window_seconds > 0")
        group = payload.get("group") or "default"
        vendor.rate_overrides[group] = rule
        return {"ok": True, "vendor": vendor.name, "group": group, **vars(rule)}

    def admin_config(self, request: Request, payload: dict) -> dict:
        vendor = self.vendor_named(payload.get("vendor"), required=False)
        if "speed" in payload:
            speed = payload["speed"]
            if not isinstance(speed, int | float) or speed <= 0:
                raise AdminError(400, "speed must be a positive number")
            if vendor:
                vendor.speed = float(speed)
            else:
                self.context.speed = float(speed)
        if vendor is None:
            if set(payload) - {"speed", "vendor"}:
                raise AdminError(400, "webhook settings need a vendor")
            return {"ok": True, "speed": self.context.speed}
        try:
            vendor.configure(payload)
        except ValueError as error:
            raise AdminError(400, str(error)) from error
        return {"ok": True, "vendor": vendor.name, **vendor.config_summary()}

    def admin_keys(self, request: Request, payload: dict) -> dict:
        vendor = self.vendor_named(payload.get("vendor"))
        key, state, scopes = (
            payload.get("key"),
            payload.get("state", "valid"),
            payload.get("scopes"),
        )
        if not isinstance(key, str) or not key:
            raise AdminError(400, "key is required")
        if state not in KEY_STATES:
            raise AdminError(400, f"state must be one of {sorted(KEY_STATES)}")
        if scopes is not None and not (
            isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)
        ):
            raise AdminError(400, "scopes must be a list of strings")
        vendor.keys.put(key, state, scopes)
        return {"ok": True, "vendor": vendor.name, "key": key, "state": state, "scopes": scopes}

    def admin_script(self, request: Request, payload: dict) -> dict:
        vendor = self.vendor_named(payload.get("vendor"))
        outcomes = payload.get("outcomes")
        if not isinstance(outcomes, list):
            raise AdminError(400, "outcomes must be a list")
        if not vendor.accepts_script or not all(vendor.script_item_is_valid(o) for o in outcomes):
            raise AdminError(400, f"outcomes are not valid for {vendor.name} (see README)")
        with vendor.lock:
            vendor.script.extend(outcomes)
            return {"ok": True, "vendor": vendor.name, "queued": len(vendor.script)}

    def admin_clock(self, request: Request, payload: dict) -> dict:
        seconds = payload.get("advance_seconds")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise AdminError(400, "advance_seconds must be a non-negative number")
        now = self.clock.advance(float(seconds))
        return {"ok": True, "now": now, "offset_seconds": self.clock.offset}

    def admin_log(self, request: Request, payload: dict) -> dict:
        query = request.query
        since = query.get("since")
        return {
            "items": self.log.query(
                vendor=query.get("vendor"),
                method=query.get("method"),
                path_contains=query.get("path_contains"),
                since=float(since) if since else None,
            )
        }

    def admin_webhooks(self, request: Request, payload: dict) -> dict:
        vendor = request.query.get("vendor")
        attempts = self.context.webhooks.attempts()
        return {"items": [item for item in attempts if not vendor or item["vendor"] == vendor]}

    def admin_state(self, vendor_name: str) -> dict:
        vendor = self.vendor_named(vendor_name)
        with vendor.lock:
            return {"vendor": vendor.name, **vendor.state_summary()}


def json_lines(app: SandboxApp, admin_url: str) -> list[str]:
    """The lines `python -m simulators` prints: one per vendor, then the admin URL."""
    lines = [
        json.dumps({"vendor": name, "base_url": url, "api_key": app.api_keys[name]})
        for name, url in app.base_urls.items()
    ]
    lines.append(json.dumps({"admin_url": admin_url}))
    return lines
