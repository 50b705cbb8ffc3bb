"""The HTML report: one self-contained `index.html` a reviewer opens from a CI artifact.

No network is needed: plotly.js is inlined once, the table's sorting and filtering are
a few lines of vanilla JS, and the charts' specs sit in `<script type="application/json">`
blocks. Everything from the history (test ids, messages, tracebacks, labels) is user
data: it is HTML-escaped in markup, and `<`, `>`, `&` are \\u-escaped in embedded JSON so
that no string can close a script element. This is the only module importing plotly.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from stability import __version__
from stability.analysis.models import TestStats
from stability.report import _format as f
from stability.report import figures
from stability.report import html_sections as sections
from stability.report._assets import CSS, JS
from stability.report.build import Report


def e(value: object) -> str:
    return escape(str(value), quote=True)


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` left as such."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _num(value: float | None, digits: int = 6) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def write_html(report: Report, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


def render_html(report: Report, *, plotly_js: str | None = None) -> str:
    charts: list[tuple[str, dict[str, Any] | None]] = []
    body = [
        _banner(report),
        _tests_table(report),
        _chart_section(
            "rates",
            "Flake rate per test",
            _rates_hint(report),
            figures.flake_rates(list(report.tests), report.options.target),
            charts,
        ),
        _grid_section(report, charts),
        _chart_section(
            "durations",
            "Durations of the slowest tests",
            "Call phase of the tests with the highest p95, latest "
            f"{report.options.duration_samples} executions each.",
            figures.durations(report.durations, report.options.slow_threshold_s),
            charts,
        ),
        _chart_section(
            "containers",
            "Container start-up",
            "Time from asking for a container to its answering, against the "
            f"{report.options.startup_target_s:g} s target. Failed starts are infrastructure: "
            "their tests are left out of the rates.",
            figures.startups(report.startups, report.options.startup_target_s),
            charts,
            sections.containers_table(report),
        ),
        _chart_section(
            "trend",
            "Trend over sessions with the same label",
            f"Label {e(report.sessions[-1].label or '(none)')}: the last "
            f"{len(report.trend)} sessions; the big markers are the sessions in scope.",
            figures.trend(report),
            charts,
        ),
        sections.signatures_section(report),
        sections.definitions(report),
    ]
    scripts = [
        f'<script type="application/json" data-figure="{e(div)}">{script_json(spec)}</script>'
        for div, spec in charts
        if spec is not None
    ]
    plotly = plotly_js if plotly_js is not None else _plotly_js()
    title = f"Test stability: {f.headline(report)}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pytest-stability {e(__version__)}">
<title>{e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>Test stability report</h1>
<div class="meta">{e(f.scope_line(report))} · generated {report.generated_at:%Y-%m-%d %H:%M} UTC
 · history <code>{e(report.db_path)}</code></div>
</header>
<nav><a href="#summary">Summary</a><a href="#tests">Tests</a><a href="#rates">Flake rates</a>
<a href="#grid">Outcome grid</a><a href="#durations">Durations</a>
<a href="#containers">Containers</a><a href="#trend">Trend</a>
<a href="#signatures">Failures</a><a href="#definitions">How to read</a></nav>
<main>
{"".join(body)}
</main>
<script>{plotly}</script>
{"".join(scripts)}
<script>{JS}</script>
</body>
</html>
"""


def _banner(report: Report) -> str:
    s = report.suite
    v = s.verdicts
    worst = "violates" if v.get("violates") else "unproven" if v.get("unproven") else "meets"
    cards = [
        ("", f.pct(report.options.target), "flake-rate target"),
        ("violates", v.get("violates", 0), "violating"),
        ("unproven", v.get("unproven", 0), "unproven"),
        ("meets", v.get("meets", 0), "meeting"),
        (
            "violates" if s.failed_repetitions else "meets",
            f.pct(s.failed_repetition_rate),
            f"repetitions red ({s.failed_repetitions}/{s.repetitions - s.infra_repetitions})",
        ),
        ("", s.statuses.get("flaky", 0), "flaky tests"),
        ("", s.statuses.get("broken", 0), "broken tests"),
        ("", s.slow_tests, "slow tests"),
    ]
    html_cards = "".join(
        f'<div class="card {cls}"><div class="n">{e(n)}</div><div class="k">{e(k)}</div></div>'
        for cls, n, k in cards
    )
    notes = [f"Suite: {e(f.suite_line(report))}."]
    notes.append(
        f"{s.tests} tests, {s.executions:,} executions ({s.decided:,} decided) in "
        f"{len(report.sessions)} session(s)."
    )
    if report.baseline:
        notes.append(
            f"Slowdowns compare with session {e(report.baseline.id)} "
            f"({s.slowdowns} test(s) slowed down)."
        )
    return (
        f'<section id="summary" class="banner {worst}">'
        f'<p class="headline">{e(f.headline(report))}</p>'
        f'<div class="cards">{html_cards}</div>'
        f'<p class="note">{" ".join(notes)}</p></section>'
    )


_COLUMNS = [
    ("Test", "text"),
    ("Verdict", "text"),
    ("Flake rate", "num"),
    ("95% interval", "num"),
    ("Failed", "num"),
    ("To settle", "num"),
    ("Status", "text"),
    ("Flips", "num"),
    ("p50", "num"),
    ("p95", "num"),
    ("max", "num"),
    ("Containers", "num"),
    ("Infra", "num"),
    ("Flags", "text"),
]


_TITLES = {
    "Failed": "failed + errors / decided runs (passed + failed + errors)",
    "To settle": "further clean runs after which the upper bound falls under the target",
    "Flips": "pass/fail changes between consecutive runs / (runs - 1)",
    "Infra": "executions left out: a container could not start",
    "Containers": "mean time per run spent starting containers (set-up and call), "
    "left out of p50, p95 and max",
    "95% interval": "95% Wilson interval of the flake rate",
}


def _test_row(t: TestStats) -> str:
    c = t.counts
    flags = "".join(f'<span class="pill flag">{e(x)}</span>' for x in _flags(t))
    settle = 0 if t.verdict == "meets" else t.runs_needed
    timed = c.executions - c.infra
    per_run = c.container_s / timed if timed and c.container_s else None
    cells = [
        f'<td class="nodeid">{_breakable(c.nodeid)}</td>',
        f'<td data-v="{e(t.verdict)}"><span class="pill {e(t.verdict)}">{e(t.verdict)}</span></td>',
        f'<td class="num" data-v="{_num(t.flake_rate)}">{e(f.pct(t.flake_rate))}</td>',
        f'<td class="num" data-v="{_num(t.ci_high)}">{e(f.ci(t))}</td>',
        f'<td class="num" data-v="{c.failures}">{c.failures} / {c.decided}</td>',
        f'<td class="num" data-v="{"" if settle is None else settle}">{e(f.runs_needed(t))}</td>',
        f'<td data-v="{e(t.status)}">{e(f.status(t))}</td>',
        f'<td class="num" data-v="{_num(t.flip_rate)}">{e(f.pct(t.flip_rate))}</td>',
        f'<td class="num" data-v="{_num(c.p50_s)}">{e(f.seconds(c.p50_s))}</td>',
        f'<td class="num" data-v="{_num(c.p95_s)}">{e(f.seconds(c.p95_s))}</td>',
        f'<td class="num" data-v="{_num(c.max_s)}">{e(f.seconds(c.max_s))}</td>',
        f'<td class="num" data-v="{_num(per_run)}">{e(f.seconds(per_run) if per_run else "")}</td>',
        f'<td class="num" data-v="{c.infra}">{c.infra or ""}</td>',
        f'<td class="flags">{flags}</td>',
    ]
    return (
        f'<tr data-nodeid="{e(c.nodeid)}" data-verdict="{e(t.verdict)}" '
        f'data-status="{e(t.status)}">{"".join(cells)}</tr>'
    )


def _breakable(nodeid: str) -> str:
    """Escaped, with line-break opportunities after `/` and before `::` and `[`."""
    text = e(nodeid)
    return text.replace("/", "/<wbr>").replace("::", "<wbr>::").replace("[", "<wbr>[")


def _flags(t: TestStats) -> list[str]:
    marks = []
    if t.slow:
        marks.append("slow")
    if t.slowdown:
        marks.append(f"slowdown (p50 was {f.seconds(t.baseline_p50_s)})")
    if t.counts.timeouts:
        marks.append(f"{t.counts.timeouts} timeout")
    if t.counts.skipped + t.counts.xfailed + t.counts.xpassed:
        marks.append(f"{t.counts.skipped + t.counts.xfailed + t.counts.xpassed} not decided")
    return marks


def _tests_table(report: Report) -> str:
    heads = "".join(
        f'<th data-type="{kind}" class="{"num" if kind == "num" else ""}"'
        f' title="{e(_TITLES.get(name, ""))}">{e(name)}</th>'
        for name, kind in _COLUMNS
    )
    rows = "".join(_test_row(t) for t in report.tests)
    options = "".join(
        f'<option value="{v}">{v}</option>' for v in ("violates", "unproven", "meets")
    )
    statuses = "".join(
        f'<option value="{v}">{v}</option>' for v in ("flaky", "broken", "stable", "undecided")
    )
    return (
        '<section id="tests"><h2>Tests</h2>'
        '<p class="hint">Worst first. Click a column to sort; type to filter. "To settle": '
        "further clean runs after which the upper bound would fall under the target; "
        '"Flips": pass/fail changes between consecutive runs.</p>'
        '<div class="controls"><input type="search" id="filter-text" '
        'placeholder="Filter by test id…" aria-label="Filter tests by id">'
        f'<select id="filter-verdict" aria-label="Verdict"><option value="">any verdict</option>'
        f"{options}</select>"
        f'<select id="filter-status" aria-label="Status"><option value="">any status</option>'
        f'{statuses}</select><span class="count" id="filter-count"></span></div>'
        f'<div class="table-wrap"><table id="tests-table" class="sortable"><thead><tr>{heads}'
        f"</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _chart_section(
    anchor: str,
    title: str,
    hint: str,
    spec: dict[str, Any] | None,
    charts: list[tuple[str, dict[str, Any] | None]],
    extra: str = "",
) -> str:
    if spec is None:
        inner = '<p class="empty">Nothing to draw for this scope.</p>'
    else:
        div = f"chart-{anchor}"
        charts.append((div, spec))
        inner = f'<div class="chart" id="{div}"></div>'
    return (
        f'<section id="{anchor}"><h2>{e(title)}</h2><p class="hint">{hint}</p>'
        f"{inner}{extra}</section>"
    )


def _rates_hint(report: Report) -> str:
    shown = figures.rate_chart_tests(list(report.tests))
    hint = (
        "Worst upper bound first; whiskers are 95% Wilson intervals, the dashed line is the "
        f"{f.pct(report.options.target)} target: a test meets it only when its whole interval "
        "is left of the line (red: violates, amber: unproven, green: meets)."
    )
    left_out = [t for t in report.tests if t.counts.decided and t not in shown]
    broken = sum(t.status == "broken" for t in left_out)
    clean = sum(t.counts.failures == 0 for t in left_out)
    if broken:
        hint += f" {broken} broken test(s) not drawn: see the table."
    if clean and any(t.counts.failures for t in shown):
        hint += f" {clean} test(s) without failures not drawn."
    return e(hint)


def _grid_section(report: Report, charts: list[tuple[str, dict[str, Any] | None]]) -> str:
    grid = report.grid
    started = {s.id: s.started_at for s in report.sessions}
    spec = figures.outcome_grid(grid, started) if grid else None
    hint = "Each row a test, each column a repetition: failures that line up are one cause."
    if grid and (
        len(grid.nodeids) < grid.total_tests or len(grid.columns) < grid.total_repetitions
    ):
        hint += (
            f" Showing the {len(grid.nodeids)} tests with the most failures (of "
            f"{grid.total_tests}) over the last {len(grid.columns)} repetitions "
            f"(of {grid.total_repetitions})."
        )
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{e(name)}</span>'
        for _, name, colour in figures.GRID_CODES
    )
    return _chart_section(
        "grid", "Outcome grid", hint, spec, charts, f'<div class="legend">{legend}</div>'
    )
