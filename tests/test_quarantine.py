"""`stability quarantine` writes the file; the plugin honours it in real pytest runs."""

from __future__ import annotations

import json
import tomllib
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from history_factory import XSS_ID, report_history
from runner_support import invoke as run
from stability.cli import main


def stability(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_only_violating_flaky_tests_are_written(tmp_path: Path) -> None:
    db = report_history(tmp_path / "h.duckdb")
    out = tmp_path / "quarantine.toml"
    result = stability("quarantine", "--db", str(db), "--out", str(out), "--days", "7", "--json")
    assert result.exit_code == 0, result.output
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    entries = {e["nodeid"]: e for e in data["test"]}
    # the broken test violates too, but a broken test is a bug to fix
    assert set(entries) == {"tests/test_orders.py::test_concurrent", XSS_ID}
    concurrent = entries["tests/test_orders.py::test_concurrent"]
    assert concurrent["flake_rate"] == 0.15
    assert "15% (3/20)" in concurrent["reason"] and "violates the 1% target" in concurrent["reason"]
    assert concurrent["quarantined_on"] == date.today()
    assert concurrent["expires"] == date.today() + timedelta(days=7)
    assert len(json.loads(result.stdout)["entries"]) == 2
    # a lower bar quarantines nothing more, a higher one nothing at all
    stability("quarantine", "--db", str(db), "--out", str(out), "--target", "50%")
    assert "test" not in tomllib.loads(out.read_text(encoding="utf-8"))


def test_a_file_it_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    db = report_history(tmp_path / "h.duckdb")
    mine = tmp_path / "quarantine.toml"
    mine.write_text("[tool.other]\nkey = 1\n")
    result = stability("quarantine", "--db", str(db), "--out", str(mine))
    assert result.exit_code == 2
    assert "was not written by `stability quarantine`" in result.stderr
    assert mine.read_text() == "[tool.other]\nkey = 1\n"


TESTS = """
import os

def test_flaky():
    assert os.environ.get("PASS") == "1", "unlucky"

def test_quarantined_but_passing():
    pass

def test_other():
    pass

def test_expired():
    assert os.environ.get("PASS") == "1", "also unlucky"
"""


def _quarantine_file(path: Path, *, expired: bool = False) -> Path:
    today = date.today()
    entries = [
        ("test_q.py::test_flaky", "flaky: 15% (3/20)", today + timedelta(days=3)),
        ("test_q.py::test_quarantined_but_passing", "flaky: 2%", today + timedelta(days=3)),
    ]
    if expired:
        entries.append(("test_q.py::test_expired", "old", today - timedelta(days=1)))
    text = "# pytest-stability quarantine\n"
    for nodeid, reason, expires in entries:
        text += f'[[test]]\nnodeid = "{nodeid}"\nreason = "{reason}"\nexpires = {expires}\n'
    path.write_text(text)
    return path


@pytest.mark.parametrize("xdist", [False, True])
def test_a_quarantined_failure_does_not_fail_the_run(
    pytester: pytest.Pytester, xdist: bool
) -> None:
    pytester.makepyfile(test_q=TESTS.replace("def test_expired", "def _not_a_test"))
    _quarantine_file(pytester.path / "q.toml")
    args = ["--stability-quarantine", "q.toml", "-p", "no:cacheprovider"]
    result = pytester.runpytest_subprocess(*args, *(["-n", "2"] if xdist else []))
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*quarantined failures (not failing the run)*",
            "QUARANTINED test_q.py::test_flaky (until *): flaky: 15% (3/20)",
            "*2 passed, 1 quarantined*",
        ]
    )
    assert "test_quarantined_but_passing (until" not in result.stdout.str()  # a pass is a pass


def test_an_expired_entry_is_ignored_with_a_warning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_q=TESTS)
    _quarantine_file(pytester.path / "q.toml", expired=True)
    pytester.makepyprojecttoml('[tool.stability]\nquarantine = "q.toml"\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*quarantine of test_q.py::test_expired expired on *: ignored*",
            "*1 failed, 2 passed, *1 quarantined*",
        ]
    )


def test_a_bad_quarantine_file_is_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_q=TESTS)
    (pytester.path / "q.toml").write_text('[[test]]\nnodeid = "x"\n')
    result = pytester.runpytest_subprocess("--stability-quarantine", "q.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*stability: quarantine file q.toml: entry 1 (x) needs an expires*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_stability_run_records_the_real_outcome(project: Path) -> None:
    (project / "test_q.py").write_text(TESTS)
    _quarantine_file(project / "q.toml")
    (project / "pyproject.toml").write_text('[tool.stability]\nquarantine = "q.toml"\n')
    result = run("test_q.py", "--repeat", "2", "--json", "-q")
    assert result.exit_code == 1, result.output
    conn = duckdb.connect(str(project / ".stability" / "history.duckdb"), read_only=True)
    outcomes = conn.execute(
        "SELECT DISTINCT outcome FROM executions WHERE nodeid = 'test_q.py::test_flaky'"
    ).fetchall()
    conn.close()
    assert outcomes == [("failed",)]
