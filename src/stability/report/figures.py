"""The HTML report's charts as plotly.js figure specs (plain dicts: data + layout).

Built as plain data rather than through plotly's Python objects: the specs stay small
and fast to build for big histories, and `page.py` (the one module that imports plotly)
only needs plotly for its JavaScript. The tests check every spec against plotly's schema.

Text that comes from the user (test ids, session ids) is HTML-escaped before it goes in:
plotly.js renders labels as a subset of HTML and shows entities as the characters.
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any

from stability.analysis.models import TestStats
from stability.report._printable import printable
from stability.report.build import OutcomeGrid, Report

Figure = dict[str, Any]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
COLORS = {
    "meets": "#2b8a3e",
    "unproven": "#e67700",
    "violates": "#c92a2a",
    "target": "#495057",
    "line": "#1864ab",
    "bar": "#a5d8ff",
}
# Outcome grid: code, label, colour (the order is the colour scale's).
GRID_CODES: tuple[tuple[str, str, str], ...] = (
    ("", "not run", "#f1f3f5"),
    ("passed", "passed", "#b2f2bb"),
    ("skipped", "skipped / xfail / xpass", "#dee2e6"),
    ("failed", "failed", "#e03131"),
    ("error", "error", "#f08c00"),
    ("timeout", "timeout", "#7048e8"),
    ("infra", "infra (container)", "#1c7ed6"),
)
_GRID_INDEX = {code: i for i, (code, _, _) in enumerate(GRID_CODES)}
_GRID_INDEX.update({"xfailed": _GRID_INDEX["skipped"], "xpassed": _GRID_INDEX["skipped"]})


def _esc(text: str, quote: bool = True) -> str:
    return html.escape(printable(text), quote=quote)


def label(text: str, limit: int = 70) -> str:
    """A test id for an axis: escaped, and cut from the left (the test name is at the end)."""
    if len(text) > limit:
        text = "…" + text[-(limit - 1) :]
    return _esc(text, quote=False)


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 20, "r": 20, "t": 10, "b": 40},
        "font": {"family": FONT, "size": 12, "color": "#212529"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hoverlabel": {"font": {"family": FONT}},
        "showlegend": False,
    }
    base.update(extra)
    return base


def _axis(**extra: Any) -> dict[str, Any]:
    return {"gridcolor": "#e9ecef", "zerolinecolor": "#ced4da", "automargin": True, **extra}


def rate_chart_tests(tests: list[TestStats], limit: int = 40) -> list[TestStats]:
    """The tests the flake-rate chart shows: those that failed but are not broken (broken
    tests are reported apart and would squash the scale), worst upper bound first; when
    none failed, the clean tests, to show how far each is from proving the target."""
    decided = [t for t in tests if t.counts.decided > 0 and t.status != "broken"]
    failed = [t for t in decided if t.counts.failures > 0]
    chosen = failed or decided
    return sorted(chosen, key=lambda t: (-t.ci_high, -(t.flake_rate or 0.0), t.nodeid))[:limit]


def flake_rates(tests: list[TestStats], target: float, limit: int = 40) -> Figure | None:
    """Flake rate per test with its 95% interval, worst upper bound first, and the target."""
    shown = rate_chart_tests(tests, limit)
    if not shown:
        return None
    shown.reverse()  # plotly draws the first category at the bottom
    rates = [100 * (t.flake_rate or 0.0) for t in shown]
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "orientation": "h",
            "x": rates,
            "y": [label(t.nodeid) for t in shown],
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [100 * t.ci_high - r for t, r in zip(shown, rates, strict=True)],
                "arrayminus": [r - 100 * t.ci_low for t, r in zip(shown, rates, strict=True)],
                "color": "#868e96",
                "thickness": 1.5,
                "width": 4,
            },
            "marker": {"size": 9, "color": [COLORS[t.verdict] for t in shown]},
            "customdata": [
                [
                    _esc(t.nodeid, quote=False),
                    t.counts.failures,
                    t.counts.decided,
                    100 * t.ci_low,
                    100 * t.ci_high,
                    t.verdict,
                ]
                for t in shown
            ],
            "hovertemplate": (
                "%{customdata[0]}<br>flake rate %{x:.2f}% (%{customdata[1]}/%{customdata[2]})"
                "<br>95% interval %{customdata[3]:.2f}% – %{customdata[4]:.2f}%"
                "<br>%{customdata[5]}<extra></extra>"
            ),
        }
    ]
    top = max(100 * t.ci_high for t in shown)
    layout = _layout(
        max(220, 26 * len(shown) + 70),
        xaxis=_axis(
            title={"text": "flake rate (%), with 95% Wilson interval"},
            range=[-0.02 * max(top, 100 * target), max(top, 100 * target) * 1.08],
            ticksuffix="%",
        ),
        yaxis=_axis(type="category"),
        shapes=[
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": 100 * target,
                "x1": 100 * target,
                "y0": 0,
                "y1": 1,
                "line": {"color": COLORS["target"], "dash": "dash", "width": 1.5},
            }
        ],
        annotations=[
            {
                "x": 100 * target,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": f"target {100 * target:g}%",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"size": 11, "color": COLORS["target"]},
            }
        ],
    )
    layout["margin"]["t"] = 24
    return {"data": data, "layout": layout}


def outcome_grid(grid: OutcomeGrid, started: dict[str, datetime] | None = None) -> Figure | None:
    """Tests by repetitions, coloured by outcome: clusters of failures show as bands."""
    if not grid.nodeids or not grid.columns:
        return None
    multi = len({c[0] for c in grid.columns}) > 1
    x = [f"{_esc(s)} #{n}" if multi else f"#{n}" for s, n in grid.columns]
    short = [
        f"{started[s]:%m-%d} #{n}" if multi and started and s in started else label
        for (s, n), label in zip(grid.columns, x, strict=True)
    ]
    step = max(1, math.ceil(len(x) / 16))
    y = [label(n, 60) for n in grid.nodeids]
    z = [[_GRID_INDEX.get(cell, 0) for cell in row] for row in grid.cells]
    text = [[cell or "not run" for cell in row] for row in grid.cells]
    steps = len(GRID_CODES)
    scale = []
    for i, (_, _, colour) in enumerate(GRID_CODES):
        scale += [[i / steps, colour], [(i + 1) / steps, colour]]
    data = [
        {
            "type": "heatmap",
            "x": x,
            "y": y,
            "z": z,
            "text": text,
            "zmin": -0.5,
            "zmax": steps - 0.5,
            "colorscale": scale,
            "showscale": False,
            "xgap": 1 if len(x) <= 120 else 0,
            "ygap": 1,
            "hovertemplate": "%{y}<br>repetition %{x}: <b>%{text}</b><extra></extra>",
        }
    ]
    layout = _layout(
        max(200, 20 * len(y) + 90),
        xaxis=_axis(
            type="category",
            title={"text": "repetition" + (" (session start, number)" if multi else "")},
            showgrid=False,
            tickvals=x[::step],
            ticktext=short[::step],
        ),
        yaxis=_axis(type="category", autorange="reversed", showgrid=False),
    )
    return {"data": data, "layout": layout}


def durations(samples: dict[str, list[float]], threshold_s: float) -> Figure | None:
    """Call-phase durations of the slowest tests (by p95) as horizontal box plots."""
    shown = [(n, v) for n, v in samples.items() if v]
    if not shown:
        return None
    data = [
        {
            "type": "box",
            "orientation": "h",
            "x": values,
            "name": label(nodeid, 60),
            "boxpoints": "outliers",
            "marker": {"color": COLORS["line"], "size": 4},
            "line": {"color": COLORS["line"], "width": 1.5},
            "fillcolor": "rgba(24,100,171,0.15)",
            "hoverinfo": "x",
        }
        for nodeid, values in reversed(shown)
    ]
    layout = _layout(
        max(220, 34 * len(shown) + 80),
        xaxis=_axis(title={"text": "call phase (s)"}, rangemode="tozero"),
        yaxis=_axis(),
        shapes=[_vline(threshold_s)],
        annotations=[_vlabel(threshold_s, f"slow over {threshold_s:g} s (p95)")],
    )
    layout["margin"]["t"] = 24
    return {"data": data, "layout": layout}


def startups(samples: dict[str, list[float]], target_s: float) -> Figure | None:
    """Container start-up (ready) times per service against the start-up target."""
    shown = [(s, v) for s, v in sorted(samples.items()) if v]
    if not shown:
        return None
    data = [
        {
            "type": "box",
            "orientation": "h",
            "x": values,
            "name": _esc(service),
            "boxpoints": "all" if len(values) <= 200 else "outliers",
            "jitter": 0.4,
            "pointpos": 0,
            "marker": {"color": COLORS["line"], "size": 4, "opacity": 0.5},
            "line": {"color": COLORS["line"], "width": 1.5},
            "fillcolor": "rgba(24,100,171,0.12)",
            "hoverinfo": "x",
        }
        for service, values in shown
    ]
    top = max(max(v) for _, v in shown)
    layout = _layout(
        max(180, 60 * len(shown) + 80),
        xaxis=_axis(title={"text": "ready after (s)"}, range=[0, max(top, target_s) * 1.08]),
        yaxis=_axis(),
        shapes=[_vline(target_s)],
        annotations=[_vlabel(target_s, f"target {target_s:g} s")],
    )
    layout["margin"]["t"] = 24
    return {"data": data, "layout": layout}


def trend(report: Report) -> Figure | None:
    """Per session with the same label: share of red repetitions, failure rate, flaky tests."""
    points = report.trend
    if not points:
        return None
    current = {s.id for s in report.sessions}
    x = [_esc(p.session_id) for p in points]  # unique categories, dated ticks
    ticks = [f"{p.started_at:%b %d}<br>{p.started_at:%H:%M}" for p in points]
    names = [_esc(p.session_id) for p in points]
    red = [100 * p.failed_repetitions / p.repetitions if p.repetitions else None for p in points]
    fail = [100 * p.failures / p.decided if p.decided else None for p in points]
    data = [
        {
            "type": "bar",
            "x": x,
            "y": [p.flaky_tests for p in points],
            "name": "flaky tests",
            "marker": {"color": COLORS["bar"], "opacity": 0.6},
            "customdata": names,
            "hovertemplate": "%{customdata}<br>%{y} flaky tests<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": red,
            "name": "repetitions with a failure (%)",
            "yaxis": "y2",
            "line": {"color": COLORS["violates"], "width": 2},
            "marker": {
                "size": [11 if p.session_id in current else 6 for p in points],
                "color": COLORS["violates"],
            },
            "customdata": names,
            "hovertemplate": "%{customdata}<br>%{y:.1f}% of repetitions red<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": fail,
            "name": "executions failed (%)",
            "yaxis": "y2",
            "line": {"color": COLORS["line"], "width": 2, "dash": "dot"},
            "marker": {"size": 6, "color": COLORS["line"]},
            "customdata": names,
            "hovertemplate": "%{customdata}<br>%{y:.2f}% of executions failed<extra></extra>",
        },
    ]
    layout = _layout(
        300,
        showlegend=True,
        legend={"orientation": "h", "y": 1.12, "x": 0},
        xaxis=_axis(
            title={"text": "session start (UTC)"}, type="category", tickvals=x, ticktext=ticks
        ),
        yaxis=_axis(
            title={"text": "flaky tests"},
            side="right",
            rangemode="tozero",
            showgrid=False,
            tickformat="d",
            dtick=max(1, math.ceil(max(p.flaky_tests for p in points) / 5)),
        ),
        yaxis2=_axis(
            title={"text": "%"},
            overlaying="y",
            side="left",
            rangemode="tozero",
            ticksuffix="%",
            tickmode="auto",
        ),
    )
    layout["margin"]["t"] = 30
    return {"data": data, "layout": layout}


def _vline(x: float) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": COLORS["violates"], "dash": "dash", "width": 1.5},
    }


def _vlabel(x: float, text: str) -> dict[str, Any]:
    return {
        "x": x,
        "y": 1,
        "xref": "x",
        "yref": "paper",
        "text": text,
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "bottom",
        "font": {"size": 11, "color": COLORS["violates"]},
    }
