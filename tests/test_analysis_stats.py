"""The statistics under every verdict: Wilson interval, verdict, runs to settle."""

from __future__ import annotations

import itertools

import pytest

from stability.analysis.stats import (
    Z95,
    quantile,
    runs_needed,
    verdict,
    wilson,
)


@pytest.mark.parametrize(
    ("failures", "n", "low", "high"),
    [
        # Published Wilson 95% intervals (e.g. Newcombe 1998, Brown-Cai-DasGupta 2001).
        (0, 100, 0.0, 0.0370),
        (3, 100, 0.0103, 0.0845),
        (1, 10, 0.0179, 0.4042),
        (5, 50, 0.0435, 0.2136),
        (50, 100, 0.4038, 0.5962),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_matches_published_values(failures: int, n: int, low: float, high: float) -> None:
    got_low, got_high = wilson(failures, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_zero_failures_upper_bound_is_closed_form() -> None:
    # With k = 0 the upper bound is z^2 / (n + z^2).
    for n in (1, 10, 100, 381, 10_000):
        assert wilson(0, n)[1] == pytest.approx(Z95**2 / (n + Z95**2))


def test_no_runs_says_nothing() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    assert verdict(0, 0, 0.01) == "unproven"


@pytest.mark.parametrize(("failures", "n"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_rejects_impossible_counts(failures: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson(failures, n)


def test_interval_contains_the_point_estimate() -> None:
    for n in range(1, 120):
        for k in range(n + 1):
            low, high = wilson(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0, (k, n)


def test_a_clean_run_never_violates() -> None:
    for target in (0.001, 0.01, 0.05, 0.5):
        for n in range(0, 2000, 7):
            assert verdict(0, n, target) != "violates"


def test_more_clean_runs_never_raise_the_upper_bound() -> None:
    # Adding passing runs can widen the interval as a whole when the point moves towards
    # 50% (1/1 -> 1/2), but never raises the upper bound: the side a verdict turns on.
    for k in range(0, 12):
        previous = 1.0
        for n in range(max(k, 1), 600):
            high = wilson(k, n)[1]
            assert high <= previous + 1e-12, (k, n)
            previous = high


def test_more_clean_runs_narrow_a_clean_interval() -> None:
    widths = [wilson(0, n)[1] - wilson(0, n)[0] for n in range(1, 500)]
    assert all(b < a for a, b in itertools.pairwise(widths))


@pytest.mark.parametrize(
    ("failures", "n", "expected"),
    [
        (0, 0, "unproven"),
        (0, 100, "unproven"),  # 100 clean runs prove only p < 3.7%
        (0, 380, "unproven"),
        (0, 381, "meets"),
        (3, 100, "violates"),  # lower bound 1.03% > 1%
        (2, 100, "unproven"),
        (1, 100, "unproven"),
    ],
)
def test_verdict_at_one_percent(failures: int, n: int, expected: str) -> None:
    assert verdict(failures, n, 0.01) == expected


def test_runs_needed_for_a_clean_test_is_381_in_total() -> None:
    # z^2 / (n + z^2) < 0.01  <=>  n > 99 z^2 = 380.3: 381 clean runs (the rule of three
    # would say 300, which is a one-sided bound).
    assert runs_needed(0, 0, 0.01) == 381
    assert runs_needed(0, 100, 0.01) == 281
    assert runs_needed(0, 381, 0.01) == 0


def test_runs_needed_settles_exactly() -> None:
    for k, n in [(0, 10), (1, 100), (2, 100), (1, 50), (4, 1000)]:
        more = runs_needed(k, n, 0.01)
        assert more is not None and more > 0
        assert wilson(k, n + more)[1] < 0.01
        assert wilson(k, n + more - 1)[1] >= 0.01


def test_runs_needed_is_none_for_a_violating_test() -> None:
    assert runs_needed(3, 100, 0.01) is None
    assert runs_needed(10, 10, 0.01) is None


def test_runs_needed_rejects_a_silly_target() -> None:
    with pytest.raises(ValueError):
        runs_needed(0, 10, 0.0)


def test_quantile_interpolates_like_numpy() -> None:
    values = [float(v) for v in range(10)]
    assert quantile(values, 0.5) == 4.5
    assert quantile(values, 0.95) == pytest.approx(8.55)
    assert quantile([3.0], 0.95) == 3.0
    with pytest.raises(ValueError):
        quantile([], 0.5)
