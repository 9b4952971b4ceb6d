"""Helpers for the contract tests (the sandbox fixtures themselves are in tests/sandbox.py)."""

from __future__ import annotations

from typing import Any

from vendors.http import RetryPolicy

# Short backoff so retry tests take well under a second; bounds are checked against this.
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.2, max_delay=2.0, max_wait=15.0)


def request_gaps(entries: list[dict[str, Any]]) -> list[float]:
    times = [entry["t"] for entry in entries]
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def assert_backoff_gaps(entries: list[dict[str, Any]], policy: RetryPolicy = FAST_RETRY) -> None:
    """Each gap between attempts lies within the policy's bounds (plus a little overhead)."""
    for retry_number, gap in enumerate(request_gaps(entries), start=1):
        low, high = policy.bounds(retry_number)
        assert low <= gap <= high + 0.25, (retry_number, gap, (low, high))
