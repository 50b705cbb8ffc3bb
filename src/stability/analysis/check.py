"""The CI gate: which tests in scope break the flake-rate (and duration) budget.

Without `strict`, a test offends when its flake rate (the point estimate) is over the
budget; with `strict`, when the upper bound of its 95% interval is not under it (the
test must be *proven* within budget, i.e. its verdict against that budget is `meets`).
Tests with no decided execution (only skipped, xfail or infra runs) are not judged on
their rate. `max_p95_s` adds a gate on the call phase's p95.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stability.analysis.models import TestStats
from stability.report._format import pct


@dataclass(frozen=True)
class Offence:
    nodeid: str
    reason: str  # "flake-rate" or "p95"
    value: float
    limit: float
    line: str


@dataclass(frozen=True)
class CheckResult:
    checked: int
    offences: tuple[Offence, ...]
    max_flake_rate: float
    strict: bool
    max_p95_s: float | None

    @property
    def ok(self) -> bool:
        return not self.offences


RULE_POINT = "rule: point estimate"
RULE_STRICT = "rule: --strict, 95% upper bound"


def check_tests(
    tests: Sequence[TestStats],
    *,
    max_flake_rate: float,
    strict: bool = False,
    max_p95_s: float | None = None,
) -> CheckResult:
    offences: list[Offence] = []
    judged = 0
    for t in tests:
        c = t.counts
        if c.decided:
            judged += 1
            value = t.ci_high if strict else (t.flake_rate or 0.0)
            over = value >= max_flake_rate if strict else value > max_flake_rate
            if over:
                offences.append(
                    Offence(
                        c.nodeid,
                        "flake-rate",
                        value,
                        max_flake_rate,
                        judged_line(t, strict, max_flake_rate),
                    )
                )
        if max_p95_s is not None and c.p95_s is not None and c.p95_s > max_p95_s:
            offences.append(
                Offence(
                    c.nodeid,
                    "p95",
                    c.p95_s,
                    max_p95_s,
                    f"{c.nodeid}: slow, call p95 {c.p95_s:.3g} s over {max_p95_s:g} s "
                    "(rule: --max-p95)",
                )
            )
    return CheckResult(
        checked=judged,
        offences=tuple(offences),
        max_flake_rate=max_flake_rate,
        strict=strict,
        max_p95_s=max_p95_s,
    )


def judged_line(t: TestStats, strict: bool, budget: float) -> str:
    """`NODEID: broken, flake rate 100% (5/5 failed) over the 1% budget (rule: point
    estimate); report verdict violates, 95% interval 56.6% to 100%`."""
    c = t.counts
    if strict:
        what = f"95% upper bound {pct(t.ci_high)}"
        how = f"not under the {pct(budget)} budget ({RULE_STRICT})"
    else:
        what = f"flake rate {pct(t.flake_rate)}"
        how = f"over the {pct(budget)} budget ({RULE_POINT})"
    return (
        f"{c.nodeid}: {t.status}, {what} ({c.failures}/{c.decided} failed) {how}; "
        f"report verdict {t.verdict}, 95% interval {pct(t.ci_low)} – "
        f"{pct(t.ci_high)}"
    )


def unproven_passes(tests: Sequence[TestStats], result: CheckResult) -> int:
    """Tests that pass this check by their point estimate but whose report verdict is not
    `meets` (their interval reaches over the budget): what --strict would fail."""
    if result.strict:
        return 0
    failed = {o.nodeid for o in result.offences}
    return sum(
        1 for t in tests if t.counts.decided and t.nodeid not in failed and t.verdict != "meets"
    )
