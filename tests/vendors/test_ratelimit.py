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
        {
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": "9",
            "X-RateLimit-Reset": str(int(now) + 20),
        },
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
