"""Wording shared by the text, Markdown and HTML reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from stability.analysis.models import BINNED_QUANTILE_ERROR, SessionInfo, TestStats

if TYPE_CHECKING:
    from stability.report.build import Report


def durations_note(tests: Sequence[TestStats]) -> str | None:
    """Say so when p50 and p95 were read from histograms rather than sorted durations."""
    binned = [t for t in tests if t.counts.binned]
    if not binned:
        return None
    return (
        f"p50 and p95 of {plural(len(binned), 'test')} are approximate: read from log-binned "
        f"histograms of their call durations (within {BINNED_QUANTILE_ERROR:.1%}), the scope "
        "being too large to sort every duration; max is exact."
    )


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def pct(value: float | None) -> str:
    """A rate as a percentage for people: 0 reads "0%", small rates keep two digits."""
    if value is None:
        return "–"
    percent = value * 100
    text = f"{percent:.3g}"
    if text == "100" and percent < 100:
        return ">99.9%"
    return f"{float(text):g}%" if "e" in text else f"{text}%"


def ci(test: TestStats) -> str:
    if test.counts.decided == 0:
        return "–"
    return f"{pct(test.ci_low)} – {pct(test.ci_high)}"


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.3g} s"
    return f"{value / 60:.1f} min"


def fraction(test: TestStats) -> str:
    """`3/100`: failures over decided executions."""
    return f"{test.counts.failures}/{test.counts.decided}"


def verdict(test: TestStats) -> str:
    """The verdict, or why there is none: no run of it was decided."""
    if test.counts.decided == 0:
        if test.status == "environment":
            return "undecided: environment"
        return "undecided: only infra runs" if test.counts.infra else "undecided: never ran"
    return test.verdict


def runs_needed(test: TestStats) -> str:
    """Further clean runs to settle: `0` (meets), `+381`, or a dash (violates: settled bad;
    never decided: no run can settle it)."""
    if test.counts.decided == 0:
        return "–"
    if test.verdict == "meets":
        return "0"
    if test.runs_needed is None:
        return "–"
    return f"+{test.runs_needed:,}"


def status(test: TestStats) -> str:
    if test.status == "flaky" and not test.counts.mixed_on_one_commit:
        return "flaky (across commits)"
    return test.status


def flags(test: TestStats) -> str:
    marks = []
    if test.slow:
        marks.append("slow")
    if test.slowdown:
        marks.append("slowdown")
    if test.counts.infra:
        marks.append(f"{test.counts.infra} infra")
    if test.counts.environment:
        marks.append(f"{test.counts.environment} environment")
    return ", ".join(marks)


def environment_tests(report: Report) -> list[TestStats]:
    """Tests with environment failures counted apart, most first."""
    found = [t for t in report.tests if t.counts.environment]
    return sorted(found, key=lambda t: (-t.counts.environment, t.nodeid))


ENVIRONMENT_HINT = (
    "Failures because something outside our containers was unreachable (a name that does "
    "not resolve, an unreachable network, a refused connection to another address): "
    "counted apart from the flake rate, unless the test also fails in other ways."
)
FLIP_HINT = "Flip: pass/fail changes between consecutive decided runs / (runs - 1)."


def session_line(s: SessionInfo) -> str:
    bits = [s.id, f"{s.started_at:%Y-%m-%d %H:%M}"]
    if s.label:
        bits.append(f"label {s.label}")
    if s.git_commit:
        bits.append(f"commit {s.git_commit[:10]}")
    return " · ".join(bits)


def scope_line(report: Report) -> str:
    sessions = report.sessions
    conditions = f" · {sessions[-1].conditions}" if sessions[-1].conditions else ""
    if len(sessions) == 1:
        line = f"session {session_line(sessions[0])}{conditions}"
    else:
        first, last = sessions[0].started_at, sessions[-1].started_at
        span = "%Y-%m-%d %H:%M" if first.date() == last.date() else "%Y-%m-%d"
        line = (
            f"{len(sessions)} sessions ({report.scope}), {first:{span}} to {last:{span}}"
            f"{conditions}"
        )
    return line + left_out_note(report.left_out)


def left_out_note(left_out: tuple[SessionInfo, ...]) -> str:
    """What pooling like with like left out of a scope, and how to pool it anyway."""
    if not left_out:
        return ""
    kinds = sorted({s.conditions for s in left_out})
    return (
        f"; left out {plural(len(left_out), 'session')} run under other conditions "
        f"({' | '.join(kinds)}): --pool-all pools them"
    )


def headline(report: Report) -> str:
    v = report.suite.verdicts
    target = pct(report.options.target)
    return (
        f"{v.get('violates', 0)} violating, {v.get('unproven', 0)} unproven, "
        f"{v.get('meets', 0)} meeting the {target} flake-rate target"
    )


def suite_line(report: Report) -> str:
    s = report.suite
    decided = s.repetitions - s.infra_repetitions
    line = (
        f"{s.failed_repetitions} of {decided} repetitions "
        f"({pct(s.failed_repetition_rate)}) had at least one failure"
    )
    if s.infra_repetitions or s.infra_executions or s.failed_container_starts:
        line += (
            f"; infrastructure, left out: {plural(s.infra_repetitions, 'repetition')}, "
            f"{plural(s.infra_executions, 'execution')}, "
            f"{plural(s.failed_container_starts, 'failed container start')}"
        )
    if s.environment_executions:
        line += (
            f"; environment, left out: {plural(s.environment_executions, 'failure')} "
            "(network, name resolution)"
        )
    return line


def cause(test: TestStats) -> str:
    """`order-dependent (after tests/a.py::t)`, `self-polluting`, ... or '' (not flaky)."""
    found = test.cause
    if found is None:
        return ""
    if found.polluters:
        return f"{found.cause} (after {', '.join(found.polluters)})"
    if found.suspects:
        return f"{found.cause} (suspected: {', '.join(found.suspects)})"
    return found.cause
