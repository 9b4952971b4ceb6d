"""What each alert metric measures, within a rule's scope."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.models import Call, CallOutcome, CallState, CommonOutcome, WebhookTally
from dashboard.alerts_metrics import clears, default_clear_threshold, fires, metric_value
from dashboard.models import AlertMetric, Heartbeat
from tests import factories

pytestmark = pytest.mark.django_db


def rule(metric: str, **extra):
    return factories.AlertRuleFactory.build(metric=metric, min_calls=1, **extra)


def aged(call: Call, minutes: int) -> Call:
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))
    return call


def test_it_measures_the_connect_rate_of_finished_calls_and_treats_low_as_bad():
    account = factories.VendorAccountFactory()
    for outcome in [CallOutcome.COMPLETED] * 3 + [CallOutcome.NOT_PICKED] * 7:
        factories.CallFactory(vendor_account=account, state=CallState.ENDED, outcome=outcome)
    factories.CallFactory(vendor_account=account, state=CallState.RUNNING)  # not finished
    connect = rule(AlertMetric.CONNECT_RATE, threshold=Decimal(40), clear_threshold=Decimal(48))

    value = metric_value(connect)

    assert value == Decimal("30.00")
    assert fires(connect, value) and not clears(connect, value)
    assert clears(connect, Decimal(48)) and not clears(connect, Decimal("47.99"))
    assert default_clear_threshold(AlertMetric.CONNECT_RATE, Decimal(40)) == Decimal("48.00")
    connect.min_calls = 11
    assert metric_value(connect) is None


def test_it_counts_only_calls_in_the_rules_scope_and_window():
    campaign = factories.CampaignFactory()
    inside = factories.CallFactory(
        vendor_account=campaign.vendor_account,
        campaign=campaign,
        state=CallState.ENDED,
        common_outcome=CommonOutcome.VOICEMAIL,
    )
    factories.CallFactory(state=CallState.ENDED, common_outcome=CommonOutcome.VOICEMAIL)
    aged(
        factories.CallFactory(
            campaign=campaign, state=CallState.ENDED, common_outcome=CommonOutcome.COMPLETED
        ),
        minutes=120,
    )
    factories.CallFactory(
        campaign=campaign, state=CallState.ENDED, common_outcome=CommonOutcome.FAILED_NUMBER
    )
    voicemail = rule(AlertMetric.VOICEMAIL_RATE, campaign=campaign, lookback_minutes=60)
    assert inside.campaign_id == campaign.pk
    assert metric_value(voicemail) == Decimal("50.00")
    numbers = rule(AlertMetric.FAILURE_RATE_NUMBER, campaign=campaign, lookback_minutes=60)
    assert metric_value(numbers) == Decimal("50.00")
    everywhere = rule(AlertMetric.VOICEMAIL_RATE, lookback_minutes=60)
    assert metric_value(everywhere) == Decimal("66.67")


def test_it_counts_dispatch_failures_and_stuck_calls():
    account = factories.VendorAccountFactory()
    factories.CallFactory.create_batch(2, vendor_account=account, state=CallState.FAILED)
    aged(factories.CallFactory(vendor_account=account, state=CallState.RUNNING), minutes=45)
    factories.CallFactory(vendor_account=account, state=CallState.RUNNING)

    failures = rule(AlertMetric.DISPATCH_FAILURES, vendor_account=account, lookback_minutes=60)
    assert metric_value(failures) == Decimal(2)
    stuck = rule(AlertMetric.STUCK_CALLS, vendor_account=account, lookback_minutes=30)
    assert metric_value(stuck) == Decimal(1)
    assert metric_value(rule(AlertMetric.STUCK_CALLS, lookback_minutes=60)) == Decimal(0)


def test_it_measures_webhook_silence_only_while_calls_are_live():
    account = factories.VendorAccountFactory()
    silence = rule(AlertMetric.WEBHOOK_SILENCE, vendor_account=account)
    assert metric_value(silence) == Decimal(0)

    aged(factories.CallFactory(vendor_account=account, state=CallState.RUNNING), minutes=30)
    assert Decimal(29) < metric_value(silence) <= Decimal(31)

    event = factories.WebhookEventFactory(vendor_account=account)
    type(event).objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(minutes=20)
    )
    assert Decimal(19) < metric_value(silence) <= Decimal(21)


def test_it_counts_refused_signatures_and_429s_of_the_scoped_accounts():
    account, other = factories.VendorAccountFactory(), factories.VendorAccountFactory()
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    WebhookTally.objects.create(vendor_account=account, hour=hour, rejected=3)
    WebhookTally.objects.create(vendor_account=other, hour=hour, rejected=5)
    type(account).objects.filter(pk=account.pk).update(
        rate_limited_count=4, rate_limited_since=timezone.now() - timedelta(minutes=10)
    )
    type(other).objects.filter(pk=other.pk).update(
        rate_limited_count=9, rate_limited_since=timezone.now() - timedelta(minutes=70)
    )

    signatures = rule(AlertMetric.WEBHOOK_SIGNATURE_FAILURES, vendor_account=account)
    assert metric_value(signatures) == Decimal(3)
    assert metric_value(rule(AlertMetric.WEBHOOK_SIGNATURE_FAILURES)) == Decimal(8)
    # The other account's 429s are over an hour old.
    assert metric_value(rule(AlertMetric.RATE_LIMITED_PER_HOUR)) == Decimal(4)


def test_it_estimates_todays_cost_from_priced_accounts():
    priced = factories.VendorAccountFactory(price_per_minute=Decimal("0.10"))
    unpriced = factories.VendorAccountFactory()
    factories.CallFactory(vendor_account=priced, state=CallState.ENDED, duration_seconds=600)
    factories.CallFactory(vendor_account=priced, state=CallState.ENDED, duration_seconds=300)
    factories.CallFactory(vendor_account=unpriced, state=CallState.ENDED, duration_seconds=900)

    assert metric_value(rule(AlertMetric.COST_PER_DAY)) == Decimal("1.50")


def test_it_measures_minutes_since_the_worker_heartbeat():
    heartbeat = rule(AlertMetric.WORKER_HEARTBEAT_MISSING)
    assert metric_value(heartbeat) is None  # never seen: nothing to compare with
    now = timezone.now()
    Heartbeat.objects.create(name="worker", seen_at=now - timedelta(minutes=10))
    assert metric_value(heartbeat, now=now) == Decimal("10.00")


def test_it_measures_the_dial_worker_silence_once_it_has_run():
    heartbeat = rule(AlertMetric.WORKER_HEARTBEAT_MISSING)
    now = timezone.now()
    Heartbeat.objects.create(name="worker", seen_at=now - timedelta(minutes=1))
    assert metric_value(heartbeat, now=now) == Decimal("1.00")  # no dial worker yet: not counted
    Heartbeat.objects.create(name="dial", seen_at=now - timedelta(minutes=12))
    assert metric_value(heartbeat, now=now) == Decimal("12.00")


def test_it_counts_the_scoped_accounts_whose_breaker_is_not_closed():
    from vendors.models import BreakerState, CircuitBreaker

    down, probing, fine = (factories.VendorAccountFactory() for _ in range(3))
    CircuitBreaker.objects.create(account=down, state=BreakerState.OPEN)
    CircuitBreaker.objects.create(account=probing, state=BreakerState.HALF_OPEN)
    CircuitBreaker.objects.create(account=fine, state=BreakerState.CLOSED)

    assert metric_value(rule(AlertMetric.BREAKER_OPEN, threshold=1)) == Decimal("2.00")
    scoped = rule(AlertMetric.BREAKER_OPEN, threshold=1, vendor_account=fine)
    assert metric_value(scoped) == Decimal("0.00")


def test_it_averages_the_agents_response_gap_p90_over_measured_calls_in_the_window():
    from calls.models import CallConversation

    def measured(gap: float | None, minutes: int = 5) -> None:
        call = aged(factories.CallFactory(state=CallState.ENDED), minutes)
        CallConversation.objects.create(
            call=call,
            computed_at=timezone.now(),
            lines=4,
            turns=4,
            agent_words=20,
            customer_words=20,
            timed=gap is not None,
            silence_threshold_seconds=3,
            response_gap_p90_seconds=gap,
        )

    measured(2.0)
    measured(4.0)
    measured(None)  # no timings: not counted
    measured(30.0, minutes=120)  # before the window
    gap = rule(AlertMetric.RESPONSE_GAP_P90, threshold=Decimal(3), lookback_minutes=60)

    assert metric_value(gap) == Decimal("3.00")
    gap.min_calls = 3
    assert metric_value(gap) is None
