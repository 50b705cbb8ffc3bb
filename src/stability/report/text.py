"""The report as tables in the terminal (`stability report --format text`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stability.analysis.models import SessionInfo, TestStats
from stability.analysis.suite import suite_signatures
from stability.report import _format as f
from stability.report._printable import printable_text
from stability.report.build import Report, container_name
from stability.text import first_line

_STYLE = {"violates": "bold red", "unproven": "yellow", "meets": "green"}


def render_text(report: Report, console: Console, *, limit: int = 50) -> None:
    s = report.suite
    console.print(printable_text(f"Test stability: {f.headline(report)}", style="bold"))
    console.print(
        printable_text(
            f"Scope: {f.scope_line(report)}; {f.plural(s.tests, 'test')}, "
            f"{f.plural(s.executions, 'execution')}"
        )
    )
    console.print(printable_text(f"Suite: {f.suite_line(report)}"))
    table = Table(title="Tests (worst first)", title_justify="left", show_lines=False)
    longest = max((len(t.nodeid) for t in report.tests[:limit]), default=4)
    wide = console.width >= 150  # narrow terminals drop the flip rate, p50 and flags
    table.add_column("Test", min_width=min(longest, 48 if wide else 32), overflow="fold")
    columns: list[tuple[str, str, Callable[[TestStats], str | Text]]] = [
        ("Rate", "right", lambda t: f.pct(t.flake_rate)),
        ("95% interval", "left", f.ci),
        ("Failed", "right", f.fraction),
        ("Verdict", "left", lambda t: printable_text(f.verdict(t), style=_STYLE[t.verdict])),
        ("To settle", "right", f.runs_needed),
        ("Status", "left", lambda t: printable_text(f.status(t))),
        ("Flip", "right", lambda t: f.pct(t.flip_rate)),
        ("p50", "right", lambda t: f.seconds(t.counts.p50_s)),
        ("p95", "right", lambda t: f.seconds(t.counts.p95_s)),
        ("Flags", "left", lambda t: printable_text(f.flags(t))),
    ]
    if not wide:
        columns = [c for c in columns if c[0] not in ("Flip", "p50", "Flags")]
    for name, justify, _ in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in report.tests[:limit]:
        table.add_row(printable_text(t.nodeid), *(cell(t) for _, _, cell in columns))
    console.print(table)
    if wide:
        console.print(printable_text(f.FLIP_HINT, style="dim"))
    if len(report.tests) > limit:
        console.print(f"… {len(report.tests) - limit} more tests (see --format json or html)")
    if note := f.durations_note(report.tests):
        console.print(printable_text(note, style="dim"))
    flaky = [t for t in report.tests if t.cause is not None]
    if flaky:
        why = Table(title="Why flaky", title_justify="left")
        for name in ("Test", "Cause", "Evidence"):
            why.add_column(name, overflow="fold")
        for t in flaky[:limit]:
            evidence = t.cause.why if t.cause else ""
            diagnosis = t.cause.diagnosis if t.cause else None
            if diagnosis and diagnosis.failing_command:
                evidence += f"\nfails: {diagnosis.failing_command}"
                if diagnosis.passing_command:
                    evidence += f"\npasses: {diagnosis.passing_command}"
            why.add_row(
                printable_text(t.nodeid), printable_text(f.cause(t)), printable_text(evidence)
            )
        console.print(why)
    signatures = suite_signatures(report.tests)
    if signatures:
        sig = Table(title="Failure signatures", title_justify="left")
        for name in ("Count", "Tests", "Signature", "Example"):
            sig.add_column(name, overflow="fold")
        for signature, count, tests, example in signatures[:10]:
            sig.add_row(
                str(count),
                str(tests),
                printable_text(signature),
                printable_text(first_line(example, 160)),
            )
        console.print(sig)
    env = f.environment_tests(report)
    if env:
        box = Table(title="Environment failures (counted apart)", title_justify="left")
        for name in ("Test", "Failures", "Passed"):
            box.add_column(name, overflow="fold")
        for t in env[:limit]:
            box.add_row(printable_text(t.nodeid), str(t.counts.environment), str(t.counts.passed))
        console.print(box)
        console.print(printable_text(f.ENVIRONMENT_HINT, style="dim"))
    if report.leftovers:
        left = Table(title="Tests that leave state behind", title_justify="left")
        for name in ("Test", "Executions", "What the latest left"):
            left.add_column(name, overflow="fold")
        for lv in report.leftovers[:limit]:
            left.add_row(
                printable_text(lv.nodeid),
                f"{lv.executions}/{lv.checked}",
                printable_text(lv.description),
            )
        console.print(left)
    if s.containers:
        target = f.seconds(report.options.startup_target_s)
        box = Table(title=f"Container start-up (target {target})", title_justify="left")
        for name in (
            "Service",
            "Starts",
            "Failed",
            "Died",
            "p50",
            "p95",
            "max",
            "Over target",
            "Pooled",
            "Waited p50",
        ):
            box.add_column(name)
        for c in s.containers:
            box.add_row(
                printable_text(container_name(c.service, c.origin)),
                str(c.starts),
                str(c.failed),
                str(c.died),
                f.seconds(c.p50_s),
                f.seconds(c.p95_s),
                f.seconds(c.max_s),
                str(c.over_target),
                str(c.pooled),
                f.seconds(c.wait_p50_s),
            )
        console.print(box)


def render_sessions(sessions: Sequence[SessionInfo], console: Console) -> None:
    """`stability sessions`: one row per session, newest first as given."""
    table = Table()
    for name in (
        "Session",
        "Started",
        "Label",
        "Commit",
        "Status",
        "Reps",
        "Red",
        "Tests",
        "Executions",
    ):
        table.add_column(name)
    for s in sessions:
        decided = s.repetitions - s.infra_repetitions
        red = (
            f"{s.failed_repetitions} ({f.pct(s.failed_repetitions / decided)})" if decided else "–"
        )
        table.add_row(
            printable_text(s.id),
            f"{s.started_at:%Y-%m-%d %H:%M}",
            printable_text(s.label or ""),
            printable_text((s.git_commit or "")[:10]),
            printable_text(s.status or ""),
            f"{s.repetitions}/{s.repeat}",
            red,
            str(s.tests),
            f"{s.executions:,}",
        )
    console.print(table)
