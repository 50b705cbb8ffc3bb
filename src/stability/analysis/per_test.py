"""From a test's tallies to its rate, interval, verdict, status and flags."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from stability.analysis.causes import Evidence, find_cause
from stability.analysis.models import SignatureCounts, TestCounts, TestStats
from stability.analysis.rules import status_of
from stability.analysis.stats import Z95, rate, runs_needed, verdict, wilson

DEFAULT_TARGET = 0.01
DEFAULT_SLOW_THRESHOLD_S = 1.0
# A test slowed down when its call p50 grew by more than half and by more than 0.1 s
# against the previous comparable session (same label and targets).
SLOWDOWN_RATIO = 1.5
SLOWDOWN_MIN_S = 0.1


def is_slowdown(p50_s: float | None, baseline_p50_s: float | None) -> bool:
    """p50 grew by more than 50% and by more than 0.1 s against the baseline."""
    if p50_s is None or baseline_p50_s is None:
        return False
    return p50_s > baseline_p50_s * SLOWDOWN_RATIO and p50_s - baseline_p50_s > SLOWDOWN_MIN_S


def analyse_test(
    counts: TestCounts,
    *,
    target: float = DEFAULT_TARGET,
    slow_threshold_s: float = DEFAULT_SLOW_THRESHOLD_S,
    baseline_p50_s: float | None = None,
    signatures: Iterable[SignatureCounts] = (),
    z: float = Z95,
) -> TestStats:
    n, k = counts.decided, counts.failures
    low, high = wilson(k, n, z)
    return TestStats(
        counts=counts,
        flake_rate=rate(k, n),
        ci_low=low,
        ci_high=high,
        verdict=verdict(k, n, target, z),
        runs_needed=runs_needed(k, n, target, z) if n else None,  # no run can settle it
        status=status_of(counts),
        flip_rate=rate(counts.flips, n - 1) if n >= 2 else None,
        slow=counts.p95_s is not None and counts.p95_s > slow_threshold_s,
        slowdown=is_slowdown(counts.p50_s, baseline_p50_s),
        baseline_p50_s=baseline_p50_s,
        signatures=tuple(sorted(signatures, key=lambda s: (-s.count, s.signature))),
    )


def analyse_tests(
    counts: Iterable[TestCounts],
    *,
    target: float = DEFAULT_TARGET,
    slow_threshold_s: float = DEFAULT_SLOW_THRESHOLD_S,
    baseline_p50: Mapping[str, float] | None = None,
    signatures: Iterable[SignatureCounts] = (),
    z: float = Z95,
) -> list[TestStats]:
    """Every test, worst first: violates, unproven, meets (undecided tests last among the
    unproven); then by flake rate and upper bound."""
    by_test: dict[str, list[SignatureCounts]] = defaultdict(list)
    for sig in signatures:
        by_test[sig.nodeid].append(sig)
    baseline = baseline_p50 or {}
    stats = [
        analyse_test(
            c,
            target=target,
            slow_threshold_s=slow_threshold_s,
            baseline_p50_s=baseline.get(c.nodeid),
            signatures=by_test.get(c.nodeid, ()),
            z=z,
        )
        for c in counts
    ]
    order = {"violates": 0, "unproven": 1, "meets": 2}
    stats.sort(
        key=lambda t: (
            order[t.verdict],
            t.status == "undecided",
            -(t.flake_rate or 0.0),
            -t.ci_high,
            t.nodeid,
        )
    )
    return stats


def with_causes(tests: Iterable[TestStats], evidence: Mapping[str, Evidence]) -> list[TestStats]:
    """Each flaky test with its cause (`analysis.causes`); the others unchanged."""
    return [
        replace(t, cause=find_cause(evidence.get(t.nodeid) or Evidence(t.nodeid), True))
        if t.status == "flaky"
        else t
        for t in tests
    ]
