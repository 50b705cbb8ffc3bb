"""A Markdown summary fit for a CI step summary (`$GITHUB_STEP_SUMMARY`)."""

from __future__ import annotations

from stability.analysis.suite import suite_signatures
from stability.report import _format as f
from stability.report._printable import printable
from stability.report.build import Report, container_name

MAX_ROWS = 30


def _squash(text: str, limit: int) -> str:
    text = " ".join(printable(text).split())
    return text[: limit - 1] + "…" if len(text) > limit else text


def _cell(text: str, limit: int = 160) -> str:
    """Table-safe text: one line, no pipes, and no HTML (entities for `<`, `>`, `&`)."""
    text = _squash(text, limit)
    text = text.replace("\\", "\\\\")
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(raw, safe)
    return text.replace("`", "'").replace("*", "\\*").replace("_", "\\_")


def _code(text: str, limit: int = 160) -> str:
    """A code span in a table: shown verbatim (HTML in it is not interpreted)."""
    return "`" + _squash(text, limit).replace("`", "'").replace("|", "\\|") + "`"


def render_markdown(report: Report) -> str:
    s = report.suite
    lines = [
        f"## Test stability: {f.headline(report)}",
        "",
        f"Scope: {_cell(f.scope_line(report))}. {f.plural(s.tests, 'test')}, "
        f"{f.plural(s.executions, 'execution')}.",
        "",
        f"**Suite:** {f.suite_line(report)}.",
        "",
        "Statuses: " + ", ".join(f"{n} {k}" for k, n in s.statuses.items() if n) + ".",
        "",
    ]
    worst = [t for t in report.tests if t.verdict == "violates" or t.counts.failures]
    clean = [t for t in report.tests if t.verdict == "unproven" and t.status == "stable"]
    if worst:
        lines += [
            "| | Test | Flake rate | 95% interval | Failed | Verdict | Clean runs to settle "
            "| Status | p95 |",
            "|---|---|---:|---|---:|---|---:|---|---:|",
        ]
        icon = {"violates": "🔴", "unproven": "🟡", "meets": "🟢"}
        for t in worst[:MAX_ROWS]:
            lines.append(
                f"| {icon[t.verdict]} | {_code(t.nodeid)} | {f.pct(t.flake_rate)} | {f.ci(t)} | "
                f"{f.fraction(t)} | {f.verdict(t)} | {f.runs_needed(t)} | {_cell(f.status(t))} | "
                f"{f.seconds(t.counts.p95_s)} |"
            )
        if len(worst) > MAX_ROWS:
            lines.append(f"\n…and {len(worst) - MAX_ROWS} more not meeting the target.")
        if note := f.durations_note(report.tests):
            lines.append(f"\n{note}")
        lines.append("")
    else:
        lines += ["No test failed in this scope.", ""]
    if clean:
        most = max(t.runs_needed or 0 for t in clean)
        lines += [
            f"{len(clean)} tests never failed but have too few runs to prove the target: "
            f"up to {most:,} more clean runs each would settle them.",
            "",
        ]
    flaky = [t for t in report.tests if t.cause is not None]
    if flaky:
        lines += ["### Why flaky", "", "| Test | Cause | Polluters | Evidence |"]
        lines.append("|---|---|---|---|")
        for t in flaky[:MAX_ROWS]:
            assert t.cause is not None
            polluters = ", ".join(_code(p) for p in t.cause.polluters) or "–"
            lines.append(
                f"| {_code(t.nodeid)} | {t.cause.cause} | {polluters} | {_cell(t.cause.why)} |"
            )
        lines.append("")
    slow = [t for t in report.tests if t.slow or t.slowdown]
    if slow:
        lines += [
            f"### Slow tests (call p95 over {f.seconds(report.options.slow_threshold_s)})",
            "",
            "| Test | p50 | p95 | max | Note |",
            "|---|---:|---:|---:|---|",
        ]
        slow.sort(key=lambda t: -(t.counts.p95_s or 0))
        for t in slow[:MAX_ROWS]:
            note = f.flags(t)
            if t.slowdown:
                note += f" (p50 was {f.seconds(t.baseline_p50_s)})"
            lines.append(
                f"| {_code(t.nodeid)} | {f.seconds(t.counts.p50_s)} | "
                f"{f.seconds(t.counts.p95_s)} | {f.seconds(t.counts.max_s)} | {_cell(note)} |"
            )
        lines.append("")
    signatures = suite_signatures(report.tests)
    if signatures:
        lines += ["### Failure signatures", "", "| Count | Tests | Signature | Example |"]
        lines.append("|---:|---:|---|---|")
        for signature, count, tests, example in signatures[:10]:
            first = example.strip().splitlines()[0] if example.strip() else ""
            lines.append(f"| {count} | {tests} | {_code(signature)} | {_cell(first)} |")
        lines.append("")
    env = f.environment_tests(report)
    if env:
        lines += ["### Environment failures (counted apart)", "", f.ENVIRONMENT_HINT, ""]
        lines += ["| Test | Failures | Passed |", "|---|---:|---:|"]
        for t in env[:MAX_ROWS]:
            lines.append(f"| {_code(t.nodeid)} | {t.counts.environment} | {t.counts.passed} |")
        lines.append("")
    if report.leftovers:
        lines += ["### Tests that leave state behind", "", "| Test | Executions | What |"]
        lines.append("|---|---:|---|")
        for lv in report.leftovers[:MAX_ROWS]:
            lines.append(
                f"| {_code(lv.nodeid)} | {lv.executions}/{lv.checked} | {_cell(lv.description)} |"
            )
        lines.append("")
    if s.containers:
        target = f.seconds(report.options.startup_target_s)
        lines += [f"### Container start-up (target {target})", ""]
        lines += [
            "| Service | Starts | Failed | Died | p50 | p95 | max | Pooled | Waited p50 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in s.containers:
            lines.append(
                f"| {_cell(container_name(c.service, c.origin))} | {c.starts} | {c.failed} | "
                f"{c.died} | {f.seconds(c.p50_s)} | "
                f"{f.seconds(c.p95_s)} | {f.seconds(c.max_s)} | {c.pooled} | "
                f"{f.seconds(c.wait_p50_s)} |"
            )
        lines.append("")
    return "\n".join(lines)
