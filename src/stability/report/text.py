"""The report as tables in the terminal (`stability report --format text`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stability.analysis.suite import suite_signatures
from stability.report import _format as f
from stability.report.build import Report

_STYLE = {"violates": "bold red", "unproven": "yellow", "meets": "green"}


def render_text(report: Report, console: Console, *, limit: int = 50) -> None:
    s = report.suite
    console.print(Text(f"Test stability: {f.headline(report)}", style="bold"))
    console.print(
        Text(f"Scope: {f.scope_line(report)}; {s.tests} tests, {s.executions:,} executions")
    )
    console.print(Text(f"Suite: {f.suite_line(report)}"))
    table = Table(title="Tests (worst first)", title_justify="left", show_lines=False)
    longest = max((len(t.nodeid) for t in report.tests[:limit]), default=4)
    table.add_column("Test", min_width=min(longest, 80), overflow="fold")
    for name, justify in [
        ("Rate", "right"),
        ("95% interval", "left"),
        ("Failed", "right"),
        ("Verdict", "left"),
        ("To settle", "right"),
        ("Status", "left"),
        ("Flip", "right"),
        ("p50", "right"),
        ("p95", "right"),
        ("Flags", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in report.tests[:limit]:
        table.add_row(
            Text(t.nodeid),
            f.pct(t.flake_rate),
            f.ci(t),
            f.fraction(t),
            Text(t.verdict, style=_STYLE[t.verdict]),
            f.runs_needed(t),
            Text(f.status(t)),
            f.pct(t.flip_rate),
            f.seconds(t.counts.p50_s),
            f.seconds(t.counts.p95_s),
            Text(f.flags(t)),
        )
    console.print(table)
    if len(report.tests) > limit:
        console.print(f"… {len(report.tests) - limit} more tests (see --format json or html)")
    signatures = suite_signatures(report.tests)
    if signatures:
        sig = Table(title="Failure signatures", title_justify="left")
        for name in ("Count", "Tests", "Signature", "Example"):
            sig.add_column(name, overflow="fold")
        for signature, count, tests, example in signatures[:10]:
            sig.add_row(str(count), str(tests), Text(signature), Text(example[:200]))
        console.print(sig)
    if s.containers:
        target = f.seconds(report.options.startup_target_s)
        box = Table(title=f"Container start-up (target {target})", title_justify="left")
        for name in ("Service", "Starts", "Failed", "p50", "p95", "max", "Over target"):
            box.add_column(name)
        for c in s.containers:
            box.add_row(
                Text(c.service),
                str(c.starts),
                str(c.failed),
                f.seconds(c.p50_s),
                f.seconds(c.p95_s),
                f.seconds(c.max_s),
                str(c.over_target),
            )
        console.print(box)
