"""The report's formats without a browser: JSON shape, Markdown, text, HTML escaping."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from rich.console import Console

from history_factory import XSS_ID, XSS_MESSAGE, report_history
from stability.report import figures
from stability.report.build import Report, ReportOptions, build_report
from stability.report.json_report import report_json, write_json
from stability.report.markdown import render_markdown
from stability.report.page import render_html, script_json
from stability.report.text import render_text
from stability.store.queries import Scope

TEST_KEYS = {"nodeid", "executions", "passed", "failed", "errors", "skipped", "flake_rate",
             "ci_low", "ci_high", "verdict", "status", "flip_rate", "p50_s", "p95_s", "max_s",
             "slow", "signatures"}  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_history(tmp_path_factory.mktemp("r") / "history.duckdb")


@pytest.fixture(scope="module")
def report(db: Path) -> Report:
    return build_report(db, Scope(), ReportOptions(charts=True))


def test_json_has_the_documented_shape(report: Report, tmp_path: Path) -> None:
    path = write_json(report, tmp_path / "out")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert path.name == "report.json"
    assert data["target"] == 0.01
    suite = data["suite"]
    assert {"repetitions", "failed_repetitions", "verdicts", "statuses"} <= suite.keys()
    assert suite["repetitions"] == 20
    assert suite["verdicts"] == {"violates": 3, "unproven": 3, "meets": 0}
    assert suite["statuses"] == {
        "broken": 1,
        "flaky": 3,
        "stable": 1,
        "environment": 0,
        "undecided": 1,
    }
    tests = {t["nodeid"]: t for t in data["tests"]}
    for test in tests.values():
        assert test.keys() >= TEST_KEYS
        for sig in test["signatures"]:
            assert {"signature", "count", "example"} <= sig.keys()
    concurrent = tests["tests/test_orders.py::test_concurrent"]
    assert (concurrent["passed"], concurrent["failed"], concurrent["executions"]) == (17, 3, 20)
    assert concurrent["flake_rate"] == 0.15
    assert concurrent["verdict"] == "violates"
    assert concurrent["status"] == "flaky"
    assert tests[XSS_ID]["signatures"][0]["example"] == XSS_MESSAGE
    assert tests["tests/test_orders.py::test_create"]["slowdown"] is True
    assert tests["tests/test_cache.py::test_expire"]["slow"] is True
    assert data["scope"]["baseline_session"] == "20261101-020000-aaaa"
    assert [p["session"] for p in data["trend"]] == ["20261101-020000-aaaa", "20261102-020000-bbbb"]


def test_json_numbers_are_finite_and_plain(report: Report) -> None:
    text = json.dumps(report_json(report), allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text


def test_markdown_summary(report: Report) -> None:
    text = render_markdown(report)
    assert text.startswith("## Test stability: 3 violating, 3 unproven, 0 meeting the 1%")
    assert "`tests/test_orders.py::test_broken`" in text
    assert "Container start-up" in text
    # user data cannot break the table or inject HTML outside code spans
    for line in text.splitlines():
        if "img src" in line:
            assert "<img" not in line and "&lt;img" in line
    assert "| 🔴 |" in text


def test_text_report(report: Report) -> None:
    out = io.StringIO()
    render_text(report, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "3 violating, 3 unproven, 0 meeting" in text
    assert XSS_ID in text  # shown as text, verbatim
    assert "Failure signatures" in text


def test_html_escapes_user_data(report: Report) -> None:
    page = render_html(report, plotly_js="/* plotly */")
    # no user-provided tag survives as markup anywhere in the page
    assert "<script>alert(" not in page
    assert "<img src=x" not in page
    assert html.escape(XSS_ID) in page
    # the only script elements are ours: plotly, the figure data, the page script
    opened = re.findall(r"<script[^>]*>", page)
    assert all(tag in ("<script>",) or "application/json" in tag for tag in opened)
    assert page.count("</script>") == len(opened)


def test_html_inlines_plotly_once(report: Report) -> None:
    page = render_html(report)
    assert page.count("plotly.js v") == 1
    assert "cdn" not in page.lower().split("plotly.js v")[0]
    assert 'src="http' not in page and "src='http" not in page


def test_script_json_cannot_close_a_script() -> None:
    text = script_json({"a": "</script><!-- & >"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & >"}


def test_figures_are_valid_plotly(report: Report) -> None:
    specs = [
        figures.flake_rates(list(report.tests), 0.01),
        figures.outcome_grid(report.grid) if report.grid else None,
        figures.durations(report.durations, 1.0),
        figures.startups(report.startups, 30.0),
        figures.trend(report),
    ]
    for spec in specs:
        assert spec is not None
        go.Figure(spec)  # raises on any property plotly does not know


def test_figures_escape_labels(report: Report) -> None:
    spec = figures.flake_rates(list(report.tests), 0.01)
    assert spec is not None
    labels = spec["data"][0]["y"]
    assert html.escape(XSS_ID, quote=False) in labels
    assert XSS_ID not in labels


def test_outcome_grid_is_bounded(db: Path) -> None:
    report = build_report(db, Scope(), ReportOptions(charts=True, grid_tests=2, grid_repetitions=5))
    assert report.grid is not None
    assert len(report.grid.nodeids) == 2
    assert len(report.grid.columns) == 5
    assert report.grid.total_tests == 6
    # the tests with the most failures come first
    assert report.grid.nodeids[0] == "tests/test_orders.py::test_broken"
    assert report.grid.cells[0] == ("failed", "failed", "failed", "failed", "error")


def test_empty_figures_are_none() -> None:
    assert figures.flake_rates([], 0.01) is None
    assert figures.durations({}, 1.0) is None
    assert figures.startups({"postgres": []}, 30.0) is None
