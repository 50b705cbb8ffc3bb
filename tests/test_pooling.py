"""Pooling only like with like: sessions run with other pytest arguments or orders are left
out of a scope (and said to be), unless `--pool-all`."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from history_factory import History
from stability.analysis.models import SessionInfo
from stability.analysis.pooling import pool, run_conditions
from stability.cli import main

T = "t.py::test_orders"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = History(tmp_path_factory.mktemp("pool") / "history.duckdb")
    h.session("s1-filtered", {T: "FFFFPPPPPP"})  # run with -k and shuffled
    h.session("s2-plain", {T: "PPPPPPPPPP"})
    h.session("s3-plain", {T: "PPPPPPPPPP"})
    path = h.write()
    conn = duckdb.connect(str(path))
    conn.execute(
        "UPDATE sessions SET options = ? WHERE id = 's1-filtered'",
        [json.dumps({"pytest_args": ["-k", "not slow"], "shuffle": True, "seed": 7})],
    )
    conn.execute(
        "UPDATE sessions SET options = ? WHERE id LIKE '%plain'",
        [json.dumps({"pytest_args": [], "jobs": 2})],
    )
    conn.close()
    return path


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def test_conditions_name_the_arguments_and_the_order_but_not_the_seed() -> None:
    assert run_conditions('{"pytest_args": ["-k", "not slow"], "shuffle": true, "seed": 3}') == (
        "pytest args: -k 'not slow'; shuffled"
    )
    assert run_conditions(None) == run_conditions("{}") == "no pytest args"
    assert run_conditions({"in_process": 5}) == "no pytest args; runs per process: 5"


def test_pool_keeps_the_newest_sessions_conditions() -> None:
    def info(sid: str, conditions: str) -> SessionInfo:
        return SessionInfo(sid, None, None, None, (), 1, None, None, None, None, conditions)  # type: ignore[arg-type]

    a, b, c = info("a", "x"), info("b", "y"), info("c", "y")
    assert pool([a, b, c]).sessions == (b, c) and pool([a, b, c]).left_out == (a,)
    assert pool([a, b, c], pool_all=True).sessions == (a, b, c)


def test_report_leaves_out_other_conditions_and_says_so(db: Path) -> None:
    out = Path(db).parent / "reports"
    cli("report", "--db", str(db), "--label", "nightly", "--format", "json", "--out", str(out))
    data = json.loads((out / "report.json").read_text())
    assert [s["id"] for s in data["scope"]["sessions"]] == ["s2-plain", "s3-plain"]
    assert [s["id"] for s in data["scope"]["left_out_sessions"]] == ["s1-filtered"]
    assert data["tests"][0]["failed"] == 0 and data["tests"][0]["status"] == "stable"
    text = cli("report", "--db", str(db), "--label", "nightly", "--format", "text")
    assert "2 sessions (label 'nightly')" in text
    assert "no pytest args; left out 1 session run under other conditions " in text
    assert "(pytest args: -k 'not slow'; shuffled): --pool-all pools them" in text


def test_pool_all_pools_every_session(db: Path) -> None:
    text = cli("report", "--db", str(db), "--label", "nightly", "--format", "text", "--pool-all")
    assert "3 sessions (label 'nightly')" in text and "left out" not in text
    assert "4/30" in text  # the filtered session's four failures count again
    check = cli("check", "--db", str(db), "--label", "nightly", "--pool-all", "--json")
    assert json.loads(check)["sessions"] == ["s1-filtered", "s2-plain", "s3-plain"]


def test_show_lists_each_sessions_conditions(db: Path) -> None:
    text = cli("show", T, "--db", str(db))
    assert "left out 1 session run under other conditions" in text
    assert "no pytest args" in text
    pooled = cli("show", T, "--db", str(db), "--pool-all")
    assert "pytest args: -k 'not slow'; shuffled" in pooled
