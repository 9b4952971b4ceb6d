"""`/metrics` for Prometheus: who may scrape, and what a scrape reads.

Request latency by view comes from django-prometheus' middleware, Celery tasks from the signals
in dashboard/celery.py, webhook deliveries and rate-budget waits from the counters in
accounts/metrics.py. With PROMETHEUS_MULTIPROC_DIR set (as `make run` does), every web and
worker process of the machine writes its counters there and a scrape adds them up; without
it, a scrape shows the answering process only.

Calls by state and vendor are read at scrape time: live calls (pending, queued, running) from
the calls table through its partial index of unfinished calls (a few hundred rows however many
calls there are), ended and failed ones from the analytics day summary (a few rows a day per
account, agent and campaign; refreshed every minute, so up to a minute behind). The state of
each vendor account's circuit breaker is read at scrape time too (one row per account).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from analytics.models import CallDaySummary
from calls.models import LIVE_STATES, TERMINAL_STATES, Call
from vendors.models import BreakerState, VendorAccount

METRICS_PATH = "/metrics"


class RequestLatencyMiddleware(PrometheusAfterMiddleware):
    """django-prometheus' latency by view, minus its 500 on a Content-Length that is not a
    number (it reads the header as an int): the view answers such a request 400 itself."""

    def process_request(self, request: HttpRequest) -> None:
        declared = request.headers.get("Content-Length") or "0"
        if declared.isascii() and declared.isdigit():
            return super().process_request(request)
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]
        return None


class CallsByStateCollector(Collector):
    """`callops_calls{state, vendor}`: how many calls are in each state, per vendor kind."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "callops_calls",
            "Calls by state and vendor (ended and failed from the analytics summary, up to a "
            "minute behind).",
            labels=["state", "vendor"],
        )
        counts: dict[tuple[str, str], int] = {}
        live = (
            Call.objects.filter(state__in=LIVE_STATES)
            .values_list("state", "vendor_account__kind")
            .annotate(calls=Count("id"))
            .order_by()
        )
        finished = (
            CallDaySummary.objects.filter(state__in=TERMINAL_STATES)
            .values_list("state", "vendor_account__kind")
            .annotate(calls=Sum("calls"))
            .order_by()
        )
        for state, vendor, calls in [*live, *finished]:
            counts[(state, vendor)] = counts.get((state, vendor), 0) + (calls or 0)
        for (state, vendor), calls in sorted(counts.items()):
            family.add_metric([state, vendor], calls)
        yield family


# The gauge's values: alerting on `callops_vendor_breaker_state > 0` finds every breaker that
# is not closed.
BREAKER_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class BreakerStateCollector(Collector):
    """`callops_vendor_breaker_state{account, vendor}`: 0 closed, 1 half-open, 2 open."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "callops_vendor_breaker_state",
            "Circuit breaker of each vendor account: 0 closed, 1 half-open (probing), 2 open.",
            labels=["account", "vendor"],
        )
        rows = VendorAccount.objects.values_list("name", "kind", "circuit_breaker__state")
        for name, kind, state in rows.order_by("name"):
            family.add_metric([name, kind], BREAKER_STATE_VALUES.get(state or "closed", 0))
        yield family


def scrape() -> bytes:
    """The exposition text of one scrape."""
    calls = CollectorRegistry(auto_describe=True)
    calls.register(CallsByStateCollector())
    calls.register(BreakerStateCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    return generate_latest(processes) + generate_latest(calls)


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.CALLOPS_METRICS_ALLOWED_NETWORKS)


def _token_presented(request: HttpRequest) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = settings.CALLOPS_METRICS_TOKEN or ""
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    )


def refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this request may not scrape, or None. The address must be in the allowed networks
    (loopback unless CALLOPS_METRICS_ALLOWED_NETWORKS says more); with CALLOPS_METRICS_TOKEN
    set, the request must also carry it as a bearer token."""
    if not _address_allowed(request):
        return JsonResponse(
            {"error": "Metrics are not served to this address (CALLOPS_METRICS_ALLOWED_NETWORKS)."},
            status=403,
        )
    if settings.CALLOPS_METRICS_TOKEN and not _token_presented(request):
        response = JsonResponse({"error": "A bearer token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None


def metrics_answer(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        return refused
    response = HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
