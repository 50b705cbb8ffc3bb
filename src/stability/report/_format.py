"""Wording shared by the text, Markdown and HTML reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stability.analysis.models import SessionInfo, TestStats

if TYPE_CHECKING:
    from stability.report.build import Report


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


def runs_needed(test: TestStats) -> str:
    """Further clean runs to settle: `0` (meets), `+381`, or a dash (violates: settled bad)."""
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
    return ", ".join(marks)


def session_line(s: SessionInfo) -> str:
    bits = [s.id, f"{s.started_at:%Y-%m-%d %H:%M}"]
    if s.label:
        bits.append(f"label {s.label}")
    if s.git_commit:
        bits.append(f"commit {s.git_commit[:10]}")
    return " · ".join(bits)


def scope_line(report: Report) -> str:
    sessions = report.sessions
    if len(sessions) == 1:
        return f"session {session_line(sessions[0])}"
    first, last = sessions[0].started_at, sessions[-1].started_at
    span = "%Y-%m-%d %H:%M" if first.date() == last.date() else "%Y-%m-%d"
    return f"{len(sessions)} sessions ({report.scope}), {first:{span}} to {last:{span}}"


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
    return line
