"""Control characters in captured output reach no report raw: they are shown escaped."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from history_factory import History
from stability.report._printable import printable
from stability.report.build import Report, ReportOptions, build_report
from stability.report.markdown import render_markdown
from stability.report.page import render_html
from stability.report.text import render_text
from stability.store.queries import Scope

NODEID = "t.py::test_term[\x1b]0;owned\x07]"
MESSAGE = "AssertionError: got \x00\x01 then \x1b[31mred\x1b[0m, \u202eevil\u202c and\rover"
RAW = ("\x00", "\x01", "\x1b", "\x07", "\u202e", "\u202c", "\r")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    history = History(tmp_path_factory.mktemp("c") / "history.duckdb")
    history.session("20261101-020000-cccc", {NODEID: "PFFP"}, messages={NODEID: MESSAGE})
    return build_report(history.write(), Scope(), ReportOptions(charts=True))


def _assert_escaped(text: str) -> None:
    for char in RAW:
        assert char not in text, f"raw {char!r} in the report"
    assert "\\x00\\x01 then \\x1b[31mred" in text
    assert "\\u202eevil" in text


def test_html(report: Report) -> None:
    _assert_escaped(render_html(report, plotly_js="/* plotly */"))


def test_markdown(report: Report) -> None:
    # Markdown escapes the backslash itself: `\\x00` renders as `\x00`
    _assert_escaped(render_markdown(report).replace("\\\\", "\\"))


def test_text(report: Report) -> None:
    out = io.StringIO()
    render_text(report, Console(file=out, width=250, color_system=None))
    _assert_escaped(out.getvalue())


def test_printable_keeps_newlines_and_tabs_and_plain_text() -> None:
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("line\r\nnext") == "line\nnext"
    assert printable("ünïcødé ✓") == "ünïcødé ✓"
    assert printable("\x7f\x85") == "\\x7f\\x85"
