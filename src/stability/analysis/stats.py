"""Small statistics: the Wilson interval, the verdict against a target, percentiles.

Pure functions over numbers; no I/O. z = 1.959964 is the two-sided 95% normal quantile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

Z95 = 1.959964

Verdict = Literal["meets", "violates", "unproven"]
VERDICTS: tuple[Verdict, ...] = ("violates", "unproven", "meets")

# runs_needed searches up to this many further runs; beyond it the answer is "none".
_MAX_RUNS = 1_000_000_000


def wilson(failures: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for `failures` out of `n` trials; (0, 1) when n is 0."""
    if n < 0 or failures < 0 or failures > n:
        raise ValueError(f"need 0 <= failures <= n, got {failures}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = failures / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if failures == 0 else max(0.0, centre - half)
    high = 1.0 if failures == n else min(1.0, centre + half)
    return low, high


def verdict(failures: int, n: int, target: float, z: float = Z95) -> Verdict:
    """`meets` when the upper bound is under the target, `violates` when the lower bound
    is over it, `unproven` when the interval straddles it (or nothing was decided)."""
    low, high = wilson(failures, n, z)
    if high < target:
        return "meets"
    if low > target:
        return "violates"
    return "unproven"


def runs_needed(failures: int, n: int, target: float, z: float = Z95) -> int | None:
    """Further clean (passing) runs after which the upper bound would fall under `target`.

    It answers "how much more evidence would prove this test meets the target, if it is
    as good as we hope?": 0 when the verdict is already `meets`; None when the verdict is
    `violates` (the lower bound is over the target: the test is proven bad, and clean runs
    are not what the evidence predicts) or when no count up to a billion would do. The
    upper bound never rises as clean runs are added, so the smallest count is found by
    doubling and bisection.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    state = verdict(failures, n, target, z)
    if state == "meets":
        return 0
    if state == "violates":
        return None

    def settles(more: int) -> bool:
        return wilson(failures, n + more, z)[1] < target

    hi = 1
    while not settles(hi):
        hi *= 2
        if hi > _MAX_RUNS:
            return None
    lo = hi // 2  # settles(lo) is false (or lo == 0, which we know is false)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if settles(mid):
            hi = mid
        else:
            lo = mid
    return hi


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, DuckDB's quantile_cont)."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None when nothing was counted."""
    return part / whole if whole else None
