"""Why a flaky test is flaky: its cause, from the evidence the history holds (pure).

The rules, first match wins (the README states them beside the rate rules):

1. Not flaky (stable, broken, undecided): no cause.
2. **order-dependent** with its polluters: `stability diagnose` replayed a failing order
   and narrowed it to the tests that, run before it, make it fail.
3. **self-polluting**: in some process its first run passed and a later run of the same
   test (`run --in-process K`) failed, and no first run ever failed.
4. **carries-over**: its first runs, in repetition order, come in fewer pass/fail runs
   than independent tries at its rate would give (Wald-Wolfowitz runs test, one-sided
   p < 0.01, exact up to `EXACT_RUNS_TEST` of the rarer outcome, else the normal
   approximation, with at least `MIN_RUNS_TEST` decided runs). Declared-order and
   shuffled repetitions are tested apart: a block of declared-order failures after a
   block of shuffled passes says the order changed, not that state carried over.
5. **non-order-dependent**: both passed and failed in the declared order, each time in
   a fresh process (first runs only).
6. **order-dependent** without a diagnosis: it passed and failed in shuffled orders and
   either never failed (or never passed) in the declared order, or one set of tests
   ran before it in every failing shuffled order and in no passing one, often enough
   that chance is ruled out (`chance_of_separation` < 0.01). Those are its suspects;
   `stability diagnose` confirms them.
7. **unknown**, saying what evidence is missing.

A diagnosis that found the victim failing alone or not replaying is reported in the
reason, and does not make the test order-dependent.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import erfc, exp, inf, lgamma, log, sqrt
from typing import Literal

Cause = Literal[
    "order-dependent", "self-polluting", "carries-over", "non-order-dependent", "unknown"
]
CAUSES: tuple[Cause, ...] = (
    "order-dependent",
    "self-polluting",
    "carries-over",
    "non-order-dependent",
    "unknown",
)
DiagnosisVerdict = Literal["polluted", "fails-alone", "does-not-replay", "inconclusive"]

RUNS_TEST_P = 0.01
MIN_RUNS_TEST = 12  # decided first runs before the runs test is asked
SEPARATION_P = 0.01


@dataclass(frozen=True)
class Diagnosis:
    """What `stability diagnose` found for one test in one session."""

    session_id: str
    nodeid: str
    verdict: DiagnosisVerdict
    polluters: tuple[str, ...] = ()
    failing_order: tuple[str, ...] = ()
    failing_command: str | None = None
    passing_command: str | None = None
    probes: int = 0
    probe_session: str | None = None


@dataclass(frozen=True)
class Evidence:
    """One test's outcomes by how they were run (decided, non-infra executions only)."""

    nodeid: str
    fixed_passed: int = 0  # first runs in the declared order
    fixed_failed: int = 0
    shuffled_passed: int = 0  # first runs in shuffled orders
    shuffled_failed: int = 0
    later_failed: int = 0  # runs after the first in a process (--in-process)
    self_polluted: int = 0  # processes whose first run passed and a later one failed
    fixed_sequence: str = ""  # declared-order first runs in repetition order: P or F
    shuffled_sequence: str = ""  # shuffled first runs in repetition order
    suspects: tuple[str, ...] = ()  # ran before it in every failing shuffled order, no passing
    candidates: int = 0  # other tests seen before it in the shuffled orders
    diagnosis: Diagnosis | None = None


@dataclass(frozen=True)
class CauseFinding:
    cause: Cause
    why: str
    polluters: tuple[str, ...] = ()  # confirmed by a diagnosis
    suspects: tuple[str, ...] = ()  # from the shuffled orders alone
    diagnosis: Diagnosis | None = None
    runs_p: float | None = None


@dataclass(frozen=True)
class RunsTest:
    runs: int
    expected: float
    p_value: float  # one-sided: this few runs or fewer by chance


# Up to this many of the rarer letter the p-value is the exact sum (in floating point, in
# logs: exact to about 1e-9); beyond, that sum is thousands of terms per test (a year of
# nights is tens of thousands of runs) and the normal approximation of the run count is
# close to it (within about 0.002 from 1,000 on).
EXACT_RUNS_TEST = 1000


def runs_test(sequence: str) -> RunsTest | None:
    """Wald-Wolfowitz runs test on a two-letter sequence (one-sided, few runs): exact
    while the rarer letter occurs at most `EXACT_RUNS_TEST` times, else the normal
    approximation (with continuity correction).

    None when one letter is missing (no runs to count).
    """
    n1 = sequence.count("F")
    n2 = len(sequence) - n1
    if n1 == 0 or n2 == 0:
        return None
    runs = 1 + sequence.count("PF") + sequence.count("FP")  # occurrences cannot overlap
    n = n1 + n2
    expected = 1 + 2 * n1 * n2 / n
    if min(n1, n2) > EXACT_RUNS_TEST:
        variance = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
        z = (runs + 0.5 - expected) / sqrt(variance)
        return RunsTest(runs=runs, expected=expected, p_value=0.5 * erfc(-z / sqrt(2)))
    total = lgamma(n + 1) - lgamma(n1 + 1) - lgamma(n2 + 1)
    top = runs // 2 + 1
    fails, passes = _log_combs(n1 - 1, top), _log_combs(n2 - 1, top)
    at_most = 0.0
    for r in range(2, runs + 1):
        k, odd = divmod(r, 2)
        if not odd:
            term = log(2) + fails[k - 1] + passes[k - 1]
        else:
            term = _log_add(fails[k - 1] + passes[k], fails[k] + passes[k - 1])
        at_most += exp(term - total)
    return RunsTest(runs=runs, expected=expected, p_value=min(at_most, 1.0))


def _log_combs(m: int, top: int) -> list[float]:
    """log C(m, j) for j = 0..top (-inf where j > m), by the ratio of neighbours."""
    found = [0.0]
    acc = 0.0
    for j in range(top):
        acc = acc + log(m - j) - log(j + 1) if j < m else -inf
        found.append(acc)
    return found


def _log_add(a: float, b: float) -> float:
    high = max(a, b)
    return -inf if high == -inf else high + log(exp(a - high) + exp(b - high))


def chance_of_separation(failing: int, passing: int, candidates: int) -> float:
    """The chance that some one of `candidates` unrelated tests ran before the test in every
    failing order and in no passing one, each order putting it before with probability 1/2
    (a bound: candidates x 2^-orders)."""
    return min(1.0, candidates * 0.5 ** (failing + passing))


def find_cause(evidence: Evidence, flaky: bool) -> CauseFinding | None:
    """The cause of a flaky test (None for a test that is not flaky)."""
    if not flaky:
        return None
    e = evidence
    d = e.diagnosis
    if d is not None and d.verdict == "polluted" and d.polluters:
        return CauseFinding(
            "order-dependent",
            f"fails after {_names(d.polluters)} (diagnosed in {d.probes} probes)",
            polluters=d.polluters,
            diagnosis=d,
        )
    note = _diagnosis_note(d)
    if e.self_polluted and e.fixed_failed + e.shuffled_failed == 0:
        return CauseFinding(
            "self-polluting",
            f"passed its first run and failed a later one in the same process "
            f"({e.self_polluted} processes); its first run never failed" + note,
            diagnosis=d,
        )
    tests = [
        (len(seq), t)
        for seq in (e.fixed_sequence, e.shuffled_sequence)
        if len(seq) >= MIN_RUNS_TEST and (t := runs_test(seq)) is not None
    ]
    tried = min(tests, key=lambda pair: pair[1].p_value) if tests else None
    test = tried[1] if tried else None
    if tried is not None and tried[1].p_value < RUNS_TEST_P:
        length, test = tried
        return CauseFinding(
            "carries-over",
            f"{test.runs} pass/fail runs in {length} repetitions where independent "
            f"tries would give about {test.expected:.1f} (runs test p = {test.p_value:.2g}): "
            "state survives between repetitions, or failures cluster in time" + note,
            diagnosis=d,
            runs_p=test.p_value,
        )
    runs_p = test.p_value if test else None
    if e.fixed_passed and e.fixed_failed:
        return CauseFinding(
            "non-order-dependent",
            f"passed {e.fixed_passed} and failed {e.fixed_failed} times in the declared order, "
            "each in a fresh process" + note,
            diagnosis=d,
            runs_p=runs_p,
        )
    if e.shuffled_passed and e.shuffled_failed:
        order_only = (e.fixed_passed > 0) != (e.fixed_failed > 0)
        chance = chance_of_separation(e.shuffled_failed, e.shuffled_passed, e.candidates)
        if e.suspects and chance < SEPARATION_P:
            return CauseFinding(
                "order-dependent",
                f"{_names(e.suspects)} ran before it in each of its {e.shuffled_failed} failing "
                f"orders and in none of its {e.shuffled_passed} passing ones; "
                "`stability diagnose` confirms" + note,
                suspects=e.suspects,
                diagnosis=d,
                runs_p=runs_p,
            )
        if order_only and d is None:
            always = "passed" if e.fixed_passed else "failed"
            return CauseFinding(
                "order-dependent",
                f"passed and failed in shuffled orders but always {always} in the declared "
                "order; `stability diagnose` names the polluter",
                diagnosis=d,
                runs_p=runs_p,
            )
        return CauseFinding(
            "unknown",
            "passed and failed in shuffled orders, with no polluter standing out yet: run it "
            "in the declared order too (without --shuffle), or `stability diagnose` it" + note,
            diagnosis=d,
            runs_p=runs_p,
        )
    return CauseFinding(
        "unknown",
        "its passes and failures never met in one way of running it (declared order, "
        "shuffled, in-process): run more repetitions" + note,
        diagnosis=d,
        runs_p=runs_p,
    )


def _names(nodeids: tuple[str, ...]) -> str:
    return ", ".join(nodeids)


def _diagnosis_note(d: Diagnosis | None) -> str:
    if d is None:
        return ""
    if d.verdict == "fails-alone":
        return "; diagnose: it fails alone, no polluter needed"
    if d.verdict == "does-not-replay":
        return "; diagnose: its failing order did not fail again when replayed"
    if d.verdict == "inconclusive":
        return f"; diagnose: no polluter within {d.probes} probes"
    return ""
