"""The Redis cache backend reuses one Redis client per connection pool, from any thread."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from dashboard.cache import RedisCache

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs Redis (REDIS_URL)")


@pytest.fixture
def cache():
    # A prefix of its own: the Redis database may be shared with other test runs.
    backend = RedisCache(REDIS_URL, {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}"})
    return backend


def test_it_adds_gets_and_deletes_through_one_reused_client(cache):
    assert cache.add("drain", 1, timeout=10)
    assert not cache.add("drain", 2, timeout=10)
    assert cache.get("drain") == 1
    assert cache.delete("drain")
    assert cache.add("drain", 3, timeout=10)
    cache.delete("drain")

    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client() is client  # one server: reads use the same pool


def test_it_counts_right_when_threads_share_the_client(cache):
    cache.set("counter", 0, timeout=30)

    def add_many() -> None:
        for _ in range(200):
            cache.incr("counter")

    threads = [threading.Thread(target=add_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("counter") == 1600
    cache.delete("counter")
