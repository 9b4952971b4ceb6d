"""The HTTP core every vendor client uses.

One `VendorSession` (pooled, timeouts always set, no redirects) per client, and one
`VendorHttp.request()` that: takes from the shared rate budget, sends, retries what may be
retried (connection errors, timeouts, 429, 500/502/503/504) with exponential backoff × jitter
but never sooner than the vendor's Retry-After / X-RateLimit-Reset, and turns every failure
into a `vendors.errors.VendorError`. A POST is retried only when it carries an Idempotency-Key,
and every retry sends the same key. With an account's circuit breaker (vendors/breaker.py) a
request asks it before its first attempt (an open breaker refuses before any budget is taken or
byte is sent), and every attempt's answer is reported to it. The retries of a request already let
through are bounded by the retry policy and keep their idempotency key, so they go on even if an
answer opened the breaker meanwhile; a success among them closes it again. Every error says
whether any attempt may have reached the vendor (`VendorError.maybe_delivered`): campaign
failover moves a call to another vendor only when none can have.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from vendors.breaker import AccountBreaker
from vendors.errors import (
    VendorBadResponse,
    VendorError,
    VendorRateLimited,
    VendorTimeout,
    VendorTransportError,
    error_class_for,
    parse_error_body,
    scrub,
)
from vendors.ratelimit import AccountRateBudget, parse_rate_headers, unix_to_datetime
from vendors.text import load_vendor_json

logger = logging.getLogger("vendors.http")

GATEWAY_TIMEOUT = 504
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Methods that do the same thing however often they are sent (RFC 9110); others need a key.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ApiKey:
    """Holds a vendor key so that no repr, str, log line or traceback can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        tail = self._value[-4:] if len(self._value) > 8 else ""
        return f"ApiKey('…{tail}')"

    __str__ = __repr__


@dataclass(frozen=True)
class AuthStyle:
    """How a vendor wants its key: a header name and an optional scheme prefix."""

    header: str
    prefix: str = ""

    def header_value(self, key: ApiKey) -> str:
        return f"{self.prefix}{key.reveal()}"


BEARER = AuthStyle("Authorization", "Bearer ")
X_API_KEY = AuthStyle("X-API-Key")
LOWER_X_API_KEY = AuthStyle("x-api-key")


class _KeyAuth(requests.auth.AuthBase):
    """Adds the key at send time so it never sits in the session's default headers."""

    def __init__(self, style: AuthStyle, key: ApiKey) -> None:
        self.style = style
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.style.header] = self.style.header_value(self.key)
        return request

    def __repr__(self) -> str:
        return f"<_KeyAuth {self.style.header} {self.key!r}>"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 3.05
    read: float = 30.0


class VendorSession(requests.Session):
    """A pooled session that always has a timeout, never follows redirects and never retries
    on its own (VendorHttp decides retries, so a POST is never repeated behind its back)."""

    def __init__(self, vendor: str, timeouts: Timeouts, pool_size: int = 10) -> None:
        super().__init__()
        self.vendor = vendor
        self.timeouts = timeouts
        self.headers["User-Agent"] = f"callops/{vendor}"
        adapter = HTTPAdapter(
            pool_connections=pool_size, pool_maxsize=pool_size, max_retries=Retry(0, read=False)
        )
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", (self.timeouts.connect, self.timeouts.read))
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<VendorSession {self.vendor}>"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff × jitter: attempt n waits base·2^(n-1)·U(0.5, 1), capped."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # The longest one request may wait (for budget, Retry-After or backoff) before it gives up
    # with VendorRateLimited/VendorUnavailable so that a Celery task can retry later instead.
    max_wait: float = 30.0

    def bounds(self, retry_number: int) -> tuple[float, float]:
        """The (shortest, longest) backoff before retry number `retry_number` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return ceiling / 2, ceiling

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        low, high = self.bounds(retry_number)
        return rng.uniform(low, high)


@dataclass(frozen=True)
class VendorResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    request_id: str = ""

    def json(self) -> Any:
        """The body as JSON, with text no database can hold (lone surrogates, NUL) replaced,
        as webhooks are: a vendor's answer is stored and shown, whichever way it came."""
        try:
            return load_vendor_json(self.content)
        except ValueError as exc:
            raise VendorBadResponse(
                "The vendor answered with a body that is not JSON.", status=self.status
            ) from exc


class VendorHttp:
    """Sends one logical request to one vendor account, with budget, retries and typed errors."""

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        api_key: ApiKey,
        auth: AuthStyle,
        budget: AccountRateBudget | None = None,
        breaker: AccountBreaker | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.budget = budget
        self.breaker = breaker
        self.retry = retry or RetryPolicy()
        self.session = VendorSession(vendor, timeouts or Timeouts())
        self.session.auth = _KeyAuth(auth, api_key)
        self.sleep = sleep
        self.clock = clock
        # Jitter only spreads retries apart; it needs no cryptographic randomness.
        self.rng = rng or random.Random()  # noqa: S311

    def __repr__(self) -> str:
        return f"<VendorHttp {self.vendor} {self.base_url}>"

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> VendorResponse:
        """Send `method path` and return the 2xx answer, or raise a VendorError.

        `endpoint` names the rate-limit group as the vendor's document does
        ("POST /v1/calls"); endpoints without their own limit share "default".
        """
        method = method.upper()
        may_retry = method in IDEMPOTENT_METHODS or idempotency_key is not None
        headers = {"Accept": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        group = endpoint or f"{method} {path}"
        url = self.base_url + path
        started = self.clock()
        # Whether an attempt so far may have reached the vendor, told on every error: a call
        # no vendor received may go to another one (campaigns/failover.py).
        delivered = False
        try:
            probe = self.breaker.before_request() if self.breaker is not None else False

            for attempt in range(1, self.retry.max_attempts + 1):
                boundary = None
                if self.budget is not None:
                    remaining_wait = max(0.0, self.retry.max_wait - (self.clock() - started))
                    try:
                        boundary = self.budget.acquire(group, max_wait=remaining_wait)
                    except VendorRateLimited:
                        if probe and self.breaker is not None:
                            self.breaker.release_probe()
                        raise
                try:
                    raw = self.session.request(
                        method,
                        url,
                        params=_clean_params(params),
                        json=json_body,
                        files=files,
                        data=data,
                        headers=headers,
                    )
                except requests.RequestException as exc:
                    if self.budget is not None:
                        self.budget.observe(group, None, {}, boundary=boundary)
                    error = self._transport_error(exc, method, path)
                    delivered = delivered or not _never_left(exc)
                    if self.breaker is not None:
                        self.breaker.record(status=None, message=error.message, probe=probe)
                    logger.warning(
                        "%s %s %s attempt %d: %s", self.vendor, method, path, attempt, error
                    )
                    if (
                        not (may_retry and not error.permanent)
                        or attempt == self.retry.max_attempts
                    ):
                        raise error from None
                    self._wait_before_retry(attempt, None, error, started)
                    continue

                response = VendorResponse(
                    status=raw.status_code,
                    headers=dict(raw.headers),
                    content=raw.content,
                    request_id=raw.headers.get("X-Request-Id", ""),
                )
                if self.budget is not None:
                    self.budget.observe(group, response.status, response.headers, boundary=boundary)
                # A gateway's timeout: the vendor behind it may have the request. Other error
                # answers say it was not done.
                delivered = delivered or response.status == GATEWAY_TIMEOUT
                logger.info(
                    "%s %s %s -> %d (attempt %d)",
                    self.vendor,
                    method,
                    path,
                    response.status,
                    attempt,
                )
                if 200 <= response.status < 300:
                    if self.breaker is not None:
                        self.breaker.record(status=response.status, message="", probe=probe)
                    return response
                error = self._http_error(response)
                if self.breaker is not None:
                    self.breaker.record(status=response.status, message=error.message, probe=probe)
                retryable = response.status in RETRYABLE_STATUSES and may_retry
                if not retryable or attempt == self.retry.max_attempts:
                    raise error
                self._wait_before_retry(attempt, response, error, started)
            raise AssertionError("the retry loop always returns or raises")  # pragma: no cover
        except VendorError as error:
            error.maybe_delivered = delivered
            raise

    # ---------------------------------------------------------------- retries

    def _wait_before_retry(
        self,
        attempt: int,
        response: VendorResponse | None,
        error: VendorError,
        started: float,
    ) -> None:
        now = self.clock()
        delay = self.retry.backoff(attempt, self.rng)
        if response is not None:
            said = parse_rate_headers(response.headers, now)
            vendor_time = said.retry_at or (said.reset_at if response.status == 429 else None)
            if vendor_time is not None:
                delay = max(delay, vendor_time - now)
        if (now - started) + delay > self.retry.max_wait:
            if isinstance(error, VendorRateLimited):
                error.retry_at = unix_to_datetime(now + delay)
            raise error
        self.sleep(delay)

    # ---------------------------------------------------------------- errors

    def _http_error(self, response: VendorResponse) -> VendorError:
        envelope = parse_error_body(response.content)
        key = self.api_key.reveal()
        error_class = error_class_for(response.status)
        kwargs: dict[str, Any] = {
            "vendor": self.vendor,
            "status": response.status,
            "code": scrub(envelope.code, key),
            "request_id": envelope.request_id or response.request_id,
            "field_errors": envelope.field_errors,
        }
        message = scrub(envelope.message, key) or f"HTTP {response.status}"
        if error_class is VendorRateLimited:
            said = parse_rate_headers(response.headers, self.clock())
            retry_at = said.retry_at or said.reset_at
            return VendorRateLimited(
                message,
                retry_at=unix_to_datetime(retry_at) if retry_at else None,
                **kwargs,
            )
        if response.status < 400:
            # A redirect: refused, since a key header must not follow it to another host.
            return error_class(message, permanent=True, **kwargs)
        return error_class(message, **kwargs)

    def _transport_error(
        self, exc: requests.RequestException, method: str, path: str
    ) -> VendorTransportError:
        # Only the exception's class: its text can hold URLs and its request holds the key.
        what = f"{method} {path}: {type(exc).__name__}"
        if isinstance(exc, requests.Timeout):
            return VendorTimeout(f"No answer in time ({what}).", vendor=self.vendor)
        if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return VendorTransportError(f"The connection failed ({what}).", vendor=self.vendor)
        return VendorTransportError(
            f"The request could not be sent ({what}).", vendor=self.vendor, permanent=True
        )


def _never_left(exc: requests.RequestException) -> bool:
    """Whether the request surely never reached the vendor: no connection was made (refused,
    unreachable, no address, connect timeout). A read timeout, a reset or a dropped connection
    after sending may come after the vendor got (and acted on) the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop unset filters and send booleans the way query strings spell them."""
    if params is None:
        return None
    cleaned: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        cleaned[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned
