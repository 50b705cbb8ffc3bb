"""Leftovers in every report format, from a history file with hand-written records."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from history_factory import XSS_ID, report_history
from stability.analysis.leftovers import rank_polluter_candidates
from stability.containers import leftovers as lo
from stability.report.build import Report, ReportOptions, build_report
from stability.report.json_report import report_json
from stability.report.markdown import render_markdown
from stability.report.page import render_html
from stability.report.text import render_text
from stability.store import queries
from stability.store.db import connect
from stability.store.queries import Scope

CREATE = "tests/test_orders.py::test_create"
EARLY = {"postgres": {"created": ["table public.old"]}}
LATEST = {
    "postgres": {"rows": {"public.orders": {"inserted": 2, "updated": 0, "deleted": 0}}},
    "bypassed_transaction": True,
}
HOSTILE = {"redis": {"added": {"count": 1, "examples": ["db0:<script>alert(4)</script>"]}}}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    db = report_history(tmp_path_factory.mktemp("r") / "history.duckdb")
    with connect(db, write=True) as conn:
        # test_create: 3 of its 20 executions in the last session left rows, the
        # earliest one of them something else; the hostile test once.
        for repetition, found in ((2, EARLY), (5, LATEST), (9, LATEST)):
            conn.execute(
                "UPDATE executions SET leftovers = ? WHERE nodeid = ? AND repetition = ? "
                "AND session_id = '20261102-020000-bbbb'",
                [lo.dumps(found), CREATE, repetition],
            )
        conn.execute(
            "UPDATE executions SET leftovers = ? WHERE nodeid = ? AND repetition = 1 "
            "AND session_id = '20261102-020000-bbbb'",
            [lo.dumps(HOSTILE), XSS_ID],
        )
    return build_report(db, Scope(), ReportOptions(charts=True))


def test_json_gives_every_test_its_leftovers_or_null(report: Report) -> None:
    tests = {t["nodeid"]: t for t in report_json(report)["tests"]}
    create = tests[CREATE]["leftovers"]
    assert create["executions"] == 3 and create["of"] == 20
    assert create["latest"] == LATEST  # the latest execution's, not the earliest
    assert create["bypassed_transaction"] is True and create["late"] is False
    assert create["description"] == (
        "rows: public.orders +2 inserted [written outside its pg_transaction: "
        "the rollback did not cover it]"
    )
    assert tests[XSS_ID]["leftovers"]["latest"] == HOSTILE
    assert {n for n, t in tests.items() if t["leftovers"]} == {CREATE, XSS_ID}
    json.dumps(report_json(report), allow_nan=False)


def test_text_and_markdown_name_the_tests(report: Report) -> None:
    out = io.StringIO()
    render_text(report, Console(file=out, width=220))
    text = out.getvalue()
    assert "Tests that leave state behind" in text
    assert "rows: public.orders +2 inserted" in text
    markdown = render_markdown(report)
    assert "### Tests that leave state behind" in markdown
    assert f"| `{CREATE}` | 3/20 |" in markdown


def test_html_section_escapes_names_and_keys(report: Report) -> None:
    page = render_html(report, plotly_js="")
    section = page[page.index('<section id="leftovers">') :]
    section = section[: section.index("</section>")]
    assert "test_create" in section and "3/20" in section
    assert "<script>alert(4)" not in section and "&lt;script&gt;alert(4)" in section
    assert "<script>alert(1)" not in section  # the hostile test id


def test_a_polluter_search_tries_known_polluters_first(tmp_path: Path) -> None:
    db = report_history(tmp_path / "history.duckdb")
    with connect(db, write=True) as conn:
        conn.execute(
            "UPDATE executions SET leftovers = ? WHERE nodeid = ? AND repetition <= 2",
            [lo.dumps(LATEST), CREATE],
        )
    with connect(db, write=False) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM sessions").fetchall()]
        summaries = queries.leftover_summaries(conn, ids)
    assert [(s.nodeid, s.executions, s.checked) for s in summaries] == [(CREATE, 4, 30)]
    candidates = ["tests/test_cache.py::test_expire", XSS_ID, CREATE]
    assert rank_polluter_candidates(candidates, summaries) == [CREATE, *candidates[:2]]
