"""What each alert metric measures, for a rule's scope (every call, a vendor account or a
campaign), at a given moment.

A metric answers a number, or None when there is too little to judge (a rate over fewer calls
than the rule's minimum, a heartbeat never seen): an alert neither opens nor resolves on None.
Rates count the calls placed within the lookback window that have finished (ended or failed),
so calls still running do not dilute them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Avg, Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from calls.models import (
    LIVE_STATES,
    TERMINAL_STATES,
    Call,
    CallConversation,
    CallState,
    CommonOutcome,
    WebhookEvent,
    WebhookTally,
)
from calls.state import CONNECTED_OUTCOMES
from dashboard.models import AlertMetric, AlertRule, Heartbeat
from dashboard.workers import WORKER_HEARTBEATS
from vendors.models import BreakerState, CircuitBreaker, VendorAccount

TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class MetricInfo:
    # True when lower is worse (the connect rate): the alert opens when the value falls to
    # the threshold instead of rising to it.
    lower_is_worse: bool
    unit: str
    # What the form and the alerts page say the metric counts, and what the lookback means.
    explains: str
    uses_lookback: bool = True
    uses_min_calls: bool = False


METRICS: dict[str, MetricInfo] = {
    AlertMetric.CONNECT_RATE: MetricInfo(
        True, "%", "Share of finished calls that connected.", uses_min_calls=True
    ),
    AlertMetric.FAILURE_RATE_VENDOR: MetricInfo(
        False, "%", "Share of finished calls that failed at the vendor.", uses_min_calls=True
    ),
    AlertMetric.FAILURE_RATE_NUMBER: MetricInfo(
        False, "%", "Share of finished calls that failed on the number.", uses_min_calls=True
    ),
    AlertMetric.VOICEMAIL_RATE: MetricInfo(
        False, "%", "Share of finished calls that reached voicemail.", uses_min_calls=True
    ),
    AlertMetric.DISPATCH_FAILURES: MetricInfo(
        False, "calls", "Calls that never became a call (the vendor refused them)."
    ),
    AlertMetric.STUCK_CALLS: MetricInfo(
        False, "calls", "Calls still without an end after the lookback window."
    ),
    AlertMetric.WEBHOOK_SILENCE: MetricInfo(
        False,
        "min",
        "Minutes without a webhook from an account while its calls are live (the worst "
        "account in scope).",
        uses_lookback=False,
    ),
    AlertMetric.WEBHOOK_SIGNATURE_FAILURES: MetricInfo(
        False, "refused", "Webhook deliveries refused for their signature (counted per hour)."
    ),
    AlertMetric.RATE_LIMITED_PER_HOUR: MetricInfo(
        False, "answers", "429 answers from the vendor in the current hour.", uses_lookback=False
    ),
    AlertMetric.COST_PER_DAY: MetricInfo(
        False,
        "",
        "Estimated cost of today's calls (minutes × each account's price per minute).",
        uses_lookback=False,
    ),
    AlertMetric.WORKER_HEARTBEAT_MISSING: MetricInfo(
        False,
        "min",
        "Minutes since a background worker last proved alive: the main workers or, once one "
        "has run, the dialling worker, whichever has been silent longer.",
        uses_lookback=False,
    ),
    AlertMetric.BREAKER_OPEN: MetricInfo(
        False,
        "accounts",
        "Vendor accounts in scope whose circuit breaker is open or probing (callops sends them "
        "nothing until it closes).",
        uses_lookback=False,
    ),
    AlertMetric.RESPONSE_GAP_P90: MetricInfo(
        False,
        "s",
        "The agent's response gap p90, averaged over the calls with a timed transcript measured "
        "in the window (how long callers wait for the agent).",
        uses_min_calls=True,
    ),
}


def _number(value: float | Decimal | int) -> Decimal:
    return Decimal(str(value)).quantize(TWO_PLACES, ROUND_HALF_UP)


def _scoped_calls(rule: AlertRule) -> QuerySet[Call]:
    calls = Call.objects.all()
    if rule.vendor_account_id:
        calls = calls.filter(vendor_account_id=rule.vendor_account_id)
    if rule.campaign_id:
        calls = calls.filter(campaign_id=rule.campaign_id)
    return calls


def _scoped_account_ids(rule: AlertRule) -> list[int]:
    if rule.vendor_account_id:
        return [rule.vendor_account_id]
    if rule.campaign_id:
        return [rule.campaign.vendor_account_id]
    return list(VendorAccount.objects.filter(is_active=True).values_list("pk", flat=True))


def _rate(rule: AlertRule, now: datetime, counted: Q) -> Decimal | None:
    since = now - timedelta(minutes=rule.lookback_minutes)
    figures = (
        _scoped_calls(rule)
        .filter(created_at__gte=since, state__in=TERMINAL_STATES)
        .aggregate(finished=Count("id"), counted=Count("id", filter=counted))
    )
    if figures["finished"] == 0 or figures["finished"] < rule.min_calls:
        return None
    return _number(100 * figures["counted"] / figures["finished"])


def _dispatch_failures(rule: AlertRule, now: datetime) -> Decimal:
    since = now - timedelta(minutes=rule.lookback_minutes)
    failed = _scoped_calls(rule).filter(created_at__gte=since, state=CallState.FAILED)
    return _number(failed.count())


def _stuck_calls(rule: AlertRule, now: datetime) -> Decimal:
    older_than = now - timedelta(minutes=rule.lookback_minutes)
    stuck = _scoped_calls(rule).filter(state__in=LIVE_STATES, created_at__lt=older_than)
    return _number(stuck.count())


def _webhook_silence(rule: AlertRule, now: datetime) -> Decimal:
    """The silence counts from the later of the last delivery and the oldest live call: an
    account with no live call cannot be silent (its vendor has nothing to say)."""
    live = (
        _scoped_calls(rule)
        .filter(state__in=LIVE_STATES)
        .values("vendor_account")
        .annotate(oldest=Min("created_at"))
    )
    worst = 0.0
    for row in live:
        last = (
            WebhookEvent.objects.filter(vendor_account_id=row["vendor_account"])
            .order_by("-received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        silent_since = max(row["oldest"], last) if last else row["oldest"]
        worst = max(worst, (now - silent_since).total_seconds() / 60)
    return _number(worst)


def _signature_failures(rule: AlertRule, now: datetime) -> Decimal:
    # Refusals are tallied per hour (calls/webhook_health.py), so the window starts on the hour.
    since = (now - timedelta(minutes=rule.lookback_minutes)).replace(
        minute=0, second=0, microsecond=0
    )
    tallies = WebhookTally.objects.filter(
        vendor_account_id__in=_scoped_account_ids(rule), hour__gte=since
    )
    return _number(tallies.aggregate(total=Sum("rejected"))["total"] or 0)


def _rate_limited(rule: AlertRule, now: datetime) -> Decimal:
    accounts = VendorAccount.objects.filter(pk__in=_scoped_account_ids(rule))
    return _number(sum(account.rate_limited_last_hour(now) for account in accounts))


def _cost_today(rule: AlertRule, now: datetime) -> Decimal:
    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    seconds_by_account = (
        _scoped_calls(rule)
        .filter(created_at__gte=start_of_day, vendor_account__price_per_minute__isnull=False)
        .values("vendor_account__price_per_minute")
        .annotate(seconds=Sum("duration_seconds"))
    )
    total = sum(
        (
            Decimal(row["seconds"] or 0) * row["vendor_account__price_per_minute"] / 60
            for row in seconds_by_account
        ),
        Decimal(0),
    )
    return _number(total)


def _heartbeat_missing(rule: AlertRule, now: datetime) -> Decimal | None:
    """The silence of the quietest kind of worker. A kind never seen is left out: a deployment
    without a dial worker still dials, from the beat (settings.CALLOPS_DIAL_QUEUE)."""
    seen = Heartbeat.objects.filter(name__in=WORKER_HEARTBEATS).aggregate(oldest=Min("seen_at"))
    if seen["oldest"] is None:
        return None
    return _number(max(0.0, (now - seen["oldest"]).total_seconds() / 60))


def _breakers_open(rule: AlertRule, now: datetime) -> Decimal:
    not_closed = CircuitBreaker.objects.filter(account_id__in=_scoped_account_ids(rule)).exclude(
        state=BreakerState.CLOSED
    )
    return _number(not_closed.count())


def _response_gap_p90(rule: AlertRule, now: datetime) -> Decimal | None:
    since = now - timedelta(minutes=rule.lookback_minutes)
    figures = CallConversation.objects.filter(
        call__in=_scoped_calls(rule).filter(created_at__gte=since),
        timed=True,
        response_gap_p90_seconds__isnull=False,
    ).aggregate(calls=Count("call_id"), gap=Avg("response_gap_p90_seconds"))
    if figures["calls"] == 0 or figures["calls"] < rule.min_calls:
        return None
    return _number(figures["gap"])


_MEASURES: dict[str, Callable[[AlertRule, datetime], Decimal | None]] = {
    AlertMetric.CONNECT_RATE: lambda rule, now: _rate(rule, now, Q(outcome__in=CONNECTED_OUTCOMES)),
    AlertMetric.FAILURE_RATE_VENDOR: lambda rule, now: _rate(
        rule, now, Q(common_outcome=CommonOutcome.FAILED_VENDOR)
    ),
    AlertMetric.FAILURE_RATE_NUMBER: lambda rule, now: _rate(
        rule, now, Q(common_outcome=CommonOutcome.FAILED_NUMBER)
    ),
    AlertMetric.VOICEMAIL_RATE: lambda rule, now: _rate(
        rule, now, Q(common_outcome=CommonOutcome.VOICEMAIL)
    ),
    AlertMetric.DISPATCH_FAILURES: _dispatch_failures,
    AlertMetric.STUCK_CALLS: _stuck_calls,
    AlertMetric.WEBHOOK_SILENCE: _webhook_silence,
    AlertMetric.WEBHOOK_SIGNATURE_FAILURES: _signature_failures,
    AlertMetric.RATE_LIMITED_PER_HOUR: _rate_limited,
    AlertMetric.COST_PER_DAY: _cost_today,
    AlertMetric.WORKER_HEARTBEAT_MISSING: _heartbeat_missing,
    AlertMetric.BREAKER_OPEN: _breakers_open,
    AlertMetric.RESPONSE_GAP_P90: _response_gap_p90,
}


def metric_value(rule: AlertRule, *, now: datetime | None = None) -> Decimal | None:
    return _MEASURES[rule.metric](rule, now or timezone.now())


def fires(rule: AlertRule, value: Decimal | None) -> bool:
    if value is None:
        return False
    if METRICS[rule.metric].lower_is_worse:
        return value <= rule.threshold
    return value >= rule.threshold


def clears(rule: AlertRule, value: Decimal | None) -> bool:
    """Back at the clear level or beyond it (the form keeps it on the healthy side of the
    threshold, so a value between the two keeps an open alert open)."""
    if value is None:
        return False
    if METRICS[rule.metric].lower_is_worse:
        return value >= rule.clear_threshold
    return value <= rule.clear_threshold


def default_clear_threshold(metric: str, threshold: Decimal) -> Decimal:
    """Without a clear level the alert resolves once the metric is 20% of the threshold (at
    least 1) back on the healthy side, so one good minute does not resolve it."""
    margin = max(abs(threshold) * Decimal("0.2"), Decimal(1))
    if METRICS[metric].lower_is_worse:
        return _number(threshold + margin)
    return _number(max(threshold - margin, Decimal(0)))


def clear_threshold_problem(metric: str, threshold: Decimal, clear: Decimal) -> str | None:
    """Why a clear level cannot work with this threshold, or None when it can."""
    if METRICS[metric].lower_is_worse:
        if clear <= threshold:
            return "The clear level must be above the threshold (the alert opens at or below it)."
    elif clear >= threshold:
        return "The clear level must be below the threshold (the alert opens at or above it)."
    return None
