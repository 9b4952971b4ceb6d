"""Estimated cost: the minutes callops recorded times the account's price per minute.

An estimate, not an invoice: callops multiplies the exact recorded seconds (vendors that bill
each started minute charge a little more; see docs/vendor-readings.md). The price is in
settings.CALLOPS_CURRENCY; amounts are rounded to cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def recorded_minutes(seconds: int | None) -> Decimal:
    return (Decimal(seconds or 0) / 60).quantize(Decimal("0.1"), ROUND_HALF_UP)


def estimated_cost(*, seconds: int | None, price_per_minute: Decimal | None) -> Decimal | None:
    """None when no price is set (an unknown cost is not a zero cost)."""
    if price_per_minute is None:
        return None
    return (Decimal(seconds or 0) * price_per_minute / 60).quantize(CENT, ROUND_HALF_UP)
