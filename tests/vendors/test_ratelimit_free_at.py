"""When the rate budget could take one more request (read-only), as campaign failover asks it
before choosing an arm; with an injected clock."""

from __future__ import annotations

from tests.vendors.test_ratelimit import budget, fake_time, vendor_headers  # noqa: F401
from vendors.models import RateBudget


def test_it_says_now_while_the_window_has_room_and_its_end_once_it_is_spent(budget, fake_time):  # noqa: F811
    now = fake_time.now
    assert budget.free_at("default") == now  # nothing known yet: the probe may go now
    budget.acquire("default", max_wait=0)
    budget.observe("default", 200, vendor_headers(remaining=9, reset=now + 30))
    for _ in range(7):
        budget.acquire("default", max_wait=0)
    # 8 of the 9 usable taken: room for one, and two waiting calls push it to the next window.
    assert budget.free_at("default") == now
    assert budget.free_at("default", queued=1) == now + 30
    assert budget.free_at("default", queued=9) == now + 30
    assert budget.free_at("default", queued=10) == now + 90  # 9 more a window
    used = RateBudget.objects.get(account_id=budget.account_id, group="default").used
    assert used == 8  # it took nothing


def test_it_says_the_end_of_a_429_pause(budget, fake_time):  # noqa: F811
    now = fake_time.now
    budget.acquire("default", max_wait=0)
    budget.observe("default", 429, {"Retry-After": "20"})

    assert budget.free_at("default") == now + 20
