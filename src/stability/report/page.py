"""The HTML report: one self-contained `index.html` a reviewer opens from a CI artifact.

No network is needed: plotly.js is inlined once, the table's sorting and filtering are
a few lines of vanilla JS, and the charts' specs sit in `<script type="application/json">`
blocks. The page is rendered from the Jinja2 templates in `templates/` with autoescaping:
everything from the history (test ids, messages, tracebacks, labels) is HTML-escaped
unless it is `Markup`, and only our own CSS, JS, plotly.js and the chart JSON (whose `<`,
`>`, `&` are \\u-escaped, so no string can close a script element) are. This is the only
module importing plotly.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from stability import __version__
from stability.analysis.models import TestStats
from stability.analysis.suite import suite_signatures
from stability.report import _format as f
from stability.report import figures
from stability.report._assets import CSS, JS
from stability.report._printable import printable
from stability.report.build import Report, container_name
from stability.text import first_line

LEFTOVER_ROWS = 100  # the leftovers table's length
SIGNATURE_ROWS = 50  # the "by test" table's length; the rest are counted

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
    "Infra": "executions left out: a container failed to start, died, ran out of memory or "
    "restarted, or the Docker engine went away",
    "Containers": "mean time per run spent starting and stopping containers (set-up and "
    "call), left out of p50, p95 and max",
    "95% interval": "95% Wilson interval of the flake rate",
}


def script_json(data: Any) -> Markup:
    """JSON safe inside a <script> element: no `<`, `>` or `&` left as such."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Markup(
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def breakable(nodeid: str) -> Markup:
    """Escaped, with line-break opportunities after `/` and before `::` and `[`."""
    text = escape(printable(nodeid))
    return (
        text.replace("/", Markup("/<wbr>"))
        .replace("::", Markup("<wbr>::"))
        .replace("[", Markup("<wbr>["))
    )


def _shown(value: Any) -> Any:
    """Every value a template prints: control characters escaped (then autoescaped)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value)
    return value


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(
        breakable=breakable,
        script_json=script_json,
        num=_num,
        g=lambda value: f"{value:g}",
    )
    env.globals.update(
        fmt=f,
        first_line=first_line,
        test_flags=_flags,
        container_name=container_name,
        container_s_per_run=_container_s_per_run,
    )
    return env


def _container_s_per_run(t: TestStats) -> float | None:
    """Mean seconds a run of the test spent starting and stopping containers, or None."""
    runs = t.counts.executions - t.counts.infra
    return t.counts.container_s / runs if runs and t.counts.container_s else None


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
    started = {s.id: s.started_at for s in report.sessions}
    target = report.options.target
    charts: dict[str, dict[str, Any] | None] = {
        "rates": figures.flake_rates(list(report.tests), target),
        "grid": figures.outcome_grid(report.grid, started) if report.grid else None,
        "durations": figures.durations(report.durations, report.options.slow_threshold_s),
        "containers": figures.startups(report.startups, report.options.startup_target_s),
        "trend": figures.trend(report),
    }
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            version=__version__,
            css=Markup(CSS),
            js=Markup(JS),
            plotly_js=Markup(plotly_js if plotly_js is not None else _plotly_js()),
            charts=charts,
            columns=[(name, kind, _TITLES.get(name, "")) for name, kind in _COLUMNS],
            rates_hint=_rates_hint(report),
            grid_hint=_grid_hint(report),
            durations_note=f.durations_note(report.tests),
            grid_codes=figures.GRID_CODES,
            signatures=_signatures(report),
            leftovers=_leftovers(report),
            where=lambda session_id, repetition: _where(report, session_id, repetition),
        )
    )


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
    return hint


def _grid_hint(report: Report) -> str:
    grid = report.grid
    hint = "Each row a test, each column a repetition: failures that line up are one cause."
    if grid and (
        len(grid.nodeids) < grid.total_tests or len(grid.columns) < grid.total_repetitions
    ):
        hint += (
            f" Showing the {len(grid.nodeids)} tests with the most failures (of "
            f"{grid.total_tests}) over the last {len(grid.columns)} repetitions "
            f"(of {grid.total_repetitions})."
        )
    return hint


def _signatures(report: Report) -> dict[str, Any]:
    """Every (test, signature) most frequent first, and the suite's commonest ten."""
    rows = [(test, sig) for test in report.tests for sig in test.signatures]
    rows.sort(key=lambda r: (-r[1].count, r[0].nodeid))
    common = suite_signatures(report.tests)[:10] if rows else []
    return {"rows": rows, "common": common, "limit": SIGNATURE_ROWS}


def _leftovers(report: Report) -> dict[str, Any]:
    """The tests that left state behind, each with its status (flaky or not)."""
    status = {t.nodeid: f.status(t) for t in report.tests}
    rows = [(lv, status.get(lv.nodeid, "")) for lv in report.leftovers]
    return {"rows": rows, "limit": LEFTOVER_ROWS}


def _where(report: Report, session_id: str, repetition: int) -> str:
    """`#12`, or `session #12` when the scope spans sessions."""
    if len(report.sessions) == 1:
        return f"#{repetition}"
    return f"{session_id} #{repetition}"
