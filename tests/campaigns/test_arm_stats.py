"""The comparison's statistics against published values (Wilson 1927 as tabled by Newcombe
1998; the pooled z-test as statsmodels' proportions_ztest computes it)."""

from __future__ import annotations

import pytest

from campaigns.stats import two_proportion_test, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe (1998), table I: 81/263 → 0.2553-0.3662; 15/148 → 0.0624-0.1605;
        # 0/20 → 0-0.1611; 1/29 → 0.0061-0.1718.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_it_gives_the_published_wilson_intervals(successes, trials, low, high):
    got_low, got_high = wilson_interval(successes, trials)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_it_gives_the_whole_range_without_trials():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_it_gives_the_known_z_and_p_of_two_proportions():
    # statsmodels.stats.proportion.proportions_ztest([30, 45], [100, 100]):
    # z = 2.1909, p = 0.02846 (b against a: b is higher, so z is positive).
    test = two_proportion_test(30, 100, 45, 100)
    assert test.z == pytest.approx(2.19089, abs=1e-4)
    assert test.p_value == pytest.approx(0.028459, abs=1e-5)
    assert two_proportion_test(45, 100, 30, 100).z == pytest.approx(-2.19089, abs=1e-4)


def test_it_declines_a_test_it_cannot_make():
    assert two_proportion_test(0, 0, 5, 10) is None
    assert two_proportion_test(10, 10, 7, 7) is None
