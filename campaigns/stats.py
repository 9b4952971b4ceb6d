"""The statistics of the arm comparison: Wilson intervals and a two-proportion z-test.

Plain formulas over the standard library (no scipy here): the normal quantile from
statistics.NormalDist, the two-sided p-value from math.erfc.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def wilson_interval(
    successes: int, trials: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    denominator = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ProportionTest:
    z: float
    p_value: float


def two_proportion_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> ProportionTest | None:
    """Pooled two-proportion z-test of b against a, two-sided; None when it cannot be made
    (an arm without trials, or both arms all successes or all failures)."""
    if trials_a <= 0 or trials_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return None
    z = (successes_b / trials_b - successes_a / trials_a) / math.sqrt(variance)
    return ProportionTest(z=z, p_value=math.erfc(abs(z) / math.sqrt(2)))
