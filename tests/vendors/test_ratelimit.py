"""The database rate budget with an injected clock: no real waiting."""

from __future__ import annotations

import pytest

from tests.factories import VendorAccountFactory
from vendors.errors import VendorRateLimited
from vendors.models import RateBudget, RateWindowSource
from vendors.ratelimit import AccountRateBudget, RateLimit, configured_limits, parse_rate_headers


class FakeTime:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def vendor_headers(*, remaining: int, reset: float) -> dict[str, str]:
    """What the vendor answers about its window of 10 requests."""
    return {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def budget(db, fake_time):
    account = VendorAccountFactory(rate_limits={"default": {"limit": 10, "window_seconds": 60}})
    return AccountRateBudget(account, clock=fake_time.clock, sleep=fake_time.sleep)


def test_it_leaves_a_little_headroom_under_the_limit():
    assert [RateLimit(n).usable for n in (1, 5, 10, 60, 100, 500)] == [1, 4, 9, 59, 98, 490]


def test_it_reads_documented_defaults_and_account_overrides(db):
    account = VendorAccountFactory(kind="voice_platform", rate_limits={"default": 200})

    limits = configured_limits(account)

    assert limits["default"] == RateLimit(200, 60)
    assert limits["POST /v1/calls"] == RateLimit(30, 60)


def test_it_aligns_on_the_vendors_reset_and_waits_for_the_next_window(budget, fake_time):
    now = fake_time.now
    budget.acquire("default", max_wait=0)
    budget.observe(
        "default",
        200,
        vendor_headers(remaining=9, reset=int(now) + 20),
    )
    for _ in range(8):
        budget.acquire("default", max_wait=0)

    with pytest.raises(VendorRateLimited) as caught:
        budget.acquire("default", max_wait=5)
    budget.acquire("default", max_wait=30)

    row = RateBudget.objects.get()
    assert row.window_source == RateWindowSource.VENDOR
    assert caught.value.retry_at.timestamp() == pytest.approx(now + 20 + budget.guard_seconds)
    assert fake_time.now == pytest.approx(now + 20 + budget.guard_seconds)
    assert row.used == 1


def align_on_vendor_window(budget, fake_time, *, ends_in: float, remaining: int = 9) -> float:
    """The probe and its answer: the vendor's window ends `ends_in` seconds from now."""
    budget.acquire("default", max_wait=0)
    reset = fake_time.now + ends_in
    budget.observe(
        "default",
        200,
        vendor_headers(remaining=remaining, reset=reset),
    )
    return reset


def test_it_sends_at_a_window_boundary_and_counts_the_request_in_both_windows(budget, fake_time):
    reset = align_on_vendor_window(budget, fake_time, ends_in=20)
    fake_time.now = reset - 0.1  # inside the guard before the boundary

    budget.acquire("default", max_wait=0)

    row = RateBudget.objects.get()
    assert fake_time.slept == []
    assert (row.used, row.used_next) == (2, 1)
    # Past the boundary: the first request is carried into the new window; the second one,
    # still near the boundary, counts in both.
    fake_time.now = reset + 0.1
    budget.acquire("default", max_wait=0)
    row.refresh_from_db()
    assert (row.used_previous, row.used, row.used_next) == (3, 2, 0)
    assert row.window_ends_at == pytest.approx(reset + 60)


def test_it_waits_at_a_boundary_only_while_the_window_on_the_other_side_is_full(budget, fake_time):
    reset = align_on_vendor_window(budget, fake_time, ends_in=20)
    for _ in range(8):  # the vendor's window is full (9 of 10 usable)
        budget.acquire("default", max_wait=0)
    fake_time.now = reset + 0.1  # the new window, but the request might still land in the old one

    budget.acquire("default", max_wait=1)

    assert fake_time.slept == [pytest.approx(budget.guard_seconds - 0.1)]
    row = RateBudget.objects.get()
    assert (row.used_previous, row.used, row.used_next) == (9, 1, 0)


def test_it_keeps_what_it_counted_in_the_next_window_when_an_answer_comes_from_it(
    budget, fake_time
):
    reset = align_on_vendor_window(budget, fake_time, ends_in=20)
    fake_time.now = reset - 0.1
    budget.acquire("default", max_wait=0)
    budget.acquire("default", max_wait=0)

    # One of them landed after the boundary: the vendor counts it in its next window.
    budget.observe(
        "default",
        200,
        vendor_headers(remaining=9, reset=reset + 60),
    )

    row = RateBudget.objects.get()
    assert row.window_ends_at == pytest.approx(reset + 60)
    assert (row.used_previous, row.used, row.used_next) == (3, 2, 0)


def test_it_gives_the_other_window_its_unit_back_once_the_answer_says_where_it_landed(
    budget, fake_time
):
    reset = align_on_vendor_window(budget, fake_time, ends_in=20)
    fake_time.now = reset - 0.1
    boundary = budget.acquire("default", max_wait=0)
    assert boundary == pytest.approx(reset)

    # The vendor counted it before the boundary: the next window owes it nothing.
    budget.observe(
        "default",
        200,
        vendor_headers(remaining=8, reset=reset),
        boundary=boundary,
    )

    row = RateBudget.objects.get()
    assert (row.used, row.used_next) == (2, 0)
    assert budget.acquire("default", max_wait=0) == pytest.approx(reset)


def test_it_pauses_the_whole_key_after_a_429(budget, fake_time):
    now = fake_time.now
    budget.acquire("default", max_wait=0)
    budget.observe("POST /v1/other", 429, {"Retry-After": "7"})

    budget.acquire("default", max_wait=30)

    assert fake_time.now >= now + 7


def test_it_reads_revor_style_headers():
    said = parse_rate_headers(
        {
            "X-RateLimit-Limit": "60",
            "X-RateLimit-Remaining": "30",
            "X-RateLimit-Window-Ms": "60000",
            "X-User-RateLimit-Remaining": "4",
            "Retry-After": "3",
        },
        now=100.0,
    )

    assert (said.remaining, said.window_seconds, said.retry_at) == (4, 60.0, 103.0)


def test_it_records_the_last_success_and_counts_429s_for_the_health_page(db):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import VendorAccountFactory
    from vendors.ratelimit import AccountRateBudget

    account = VendorAccountFactory()
    budget = AccountRateBudget(account)
    budget.observe("default", 200, {})
    budget.observe("default", 429, {"Retry-After": "1"})
    budget.observe("default", 429, {"Retry-After": "1"})
    account.refresh_from_db()
    assert account.last_success_at is not None
    assert account.rate_limited_last_hour() == 2
    assert account.rate_limited_last_hour(timezone.now() + timedelta(hours=2)) == 0


def metric(name: str, account_kind: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"vendor": account_kind, "group": "default"}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_it_counts_its_waits_and_deferrals_in_the_metrics(budget, fake_time):
    kind = budget.vendor
    before = {
        name: metric(name, kind)
        for name in (
            "callops_rate_budget_waits_total",
            "callops_rate_budget_wait_seconds_total",
            "callops_rate_budget_deferrals_total",
        )
    }
    now = fake_time.now
    budget.acquire("default", max_wait=0)
    budget.observe("default", 200, vendor_headers(remaining=9, reset=int(now) + 20))
    for _ in range(8):
        budget.acquire("default", max_wait=0)
    with pytest.raises(VendorRateLimited):
        budget.acquire("default", max_wait=5)  # frees up only later: put off
    budget.acquire("default", max_wait=30)  # sleeps until the next window

    assert (
        metric("callops_rate_budget_deferrals_total", kind)
        == before["callops_rate_budget_deferrals_total"] + 1
    )
    assert metric("callops_rate_budget_waits_total", kind) == before[
        "callops_rate_budget_waits_total"
    ] + len(fake_time.slept)
    assert metric("callops_rate_budget_wait_seconds_total", kind) == pytest.approx(
        before["callops_rate_budget_wait_seconds_total"] + sum(fake_time.slept)
    )
    assert sum(fake_time.slept) == pytest.approx(20 + budget.guard_seconds)
