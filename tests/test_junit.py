"""JUnit XML in (`stability import junit`) and out (`stability report --format junit`).

The import is checked against files real pytest runs wrote, in both of pytest's JUnit
families, and against Surefire-style rerun elements written by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from history_factory import XSS_ID, XSS_MESSAGE, report_history
from stability.ci.junit_import import node_id
from stability.cli import main
from stability.report.junit import classname_and_name

SUITE = {
    "tests/api/test_orders.py": """
import os, pytest

RUN = int(os.environ.get("RUN", "1"))

class TestCart:
    def test_add(self):
        pass

    class TestNested:
        @pytest.mark.parametrize("v", ["a.b", "x/y", "two words"])
        def test_param(self, v):
            pass

def test_flaky():
    assert RUN != 2, "second run fails"

@pytest.fixture
def broken_fixture():
    raise RuntimeError("no database")

def test_setup_error(broken_fixture):
    pass

@pytest.mark.skip(reason="later")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False
""",
    "tests/test_top_test.py": "def test_top():\n    pass\n",
    "tests/__init__.py": "",
    "tests/api/__init__.py": "",
}


def stability(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def pytest_run(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, **(env or {})},
        check=False,
    )
    return done.stdout


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("suite")
    for name, text in SUITE.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    for run, family in ((1, "xunit2"), (2, "xunit2"), (3, "xunit1")):
        pytest_run(
            project,
            f"--junitxml=run{run}.xml",
            "-o",
            f"junit_family={family}",
            env={"RUN": str(run)},
        )
    return project


def test_node_ids_are_pytests_own(suite: Path, tmp_path: Path) -> None:
    collected = pytest_run(suite, "--collect-only", "-q").splitlines()
    pytest_ids = {line for line in collected if "::" in line}
    assert len(pytest_ids) == 9
    db = tmp_path / "h.duckdb"
    for run in (1, 3):  # xunit2 (no file attribute: guessed) and xunit1 (file given)
        result = stability("import", "junit", str(suite / f"run{run}.xml"), "--db", str(db))
        assert result.exit_code == 0, result.output
    imported = query(db, "SELECT session_id, list(DISTINCT nodeid) FROM executions GROUP BY 1")
    assert len(imported) == 2
    for _, nodeids in imported:
        assert set(nodeids) == pytest_ids


def test_outcomes_and_a_flaky_test_across_files(suite: Path, tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    files = [str(suite / "run1.xml"), str(suite / "run2.xml")]
    result = stability(
        "import", "junit", *files, "--label", "ci", "--commit", "abc123", "--db", str(db), "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["repetitions"], summary["tests"], summary["executions"]) == (2, 9, 18)
    outcomes = dict(
        query(
            db,
            "SELECT split_part(nodeid, '::', -1), list(outcome ORDER BY repetition) "
            "FROM executions GROUP BY nodeid",
        )
    )
    assert outcomes["test_flaky"] == ["passed", "failed"]
    assert outcomes["test_setup_error"] == ["error", "error"]
    assert outcomes["test_skipped"] == ["skipped", "skipped"]
    assert outcomes["test_xfail"] == ["xfailed", "xfailed"]
    assert query(db, "SELECT label, git_commit, repeat, status FROM sessions") == [
        ("ci", "abc123", 2, "completed")
    ]
    assert query(db, "SELECT number, status FROM repetitions ORDER BY 1") == [
        (1, "failed"),
        (2, "failed"),
    ]
    report = stability("report", "--db", str(db), "--format", "json", "--out", str(tmp_path))
    assert report.exit_code == 0, report.output
    tests = {t["nodeid"]: t for t in json.loads((tmp_path / "report.json").read_text())["tests"]}
    flaky = tests["tests/api/test_orders.py::test_flaky"]
    assert (flaky["flake_rate"], flaky["status"]) == (0.5, "flaky")
    assert flaky["signatures"][0]["example"].startswith("AssertionError: second run fails")


SUREFIRE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.example.OrderTest" tests="3" failures="1" errors="0" skipped="0"
           timestamp="2026-11-20T02:00:00">
  <testcase classname="com.example.OrderTest" name="retriedThenPassed" time="0.5">
    <flakyFailure message="timeout after 5s" type="java.lang.AssertionError">
      <stackTrace>at OrderTest.java:10</stackTrace>
    </flakyFailure>
    <flakyError message="connection reset" type="java.io.IOException"/>
  </testcase>
  <testcase classname="com.example.OrderTest" name="failedTwice" time="0.7">
    <failure message="expected 2" type="java.lang.AssertionError">trace</failure>
    <rerunFailure message="expected 2" type="java.lang.AssertionError"/>
  </testcase>
  <testcase classname="com.example.OrderTest" name="fine" time="0.1"/>
</testsuite>
"""


def test_reruns_are_executions(tmp_path: Path) -> None:
    (tmp_path / "TEST-OrderTest.xml").write_text(SUREFIRE)
    db = tmp_path / "h.duckdb"
    result = stability("import", "junit", str(tmp_path / "TEST-OrderTest.xml"), "--db", str(db))
    assert result.exit_code == 0, result.output
    rows = dict(
        query(db, "SELECT nodeid, list(outcome ORDER BY outcome) FROM executions GROUP BY 1")
    )
    assert rows == {
        "com.example.OrderTest::retriedThenPassed": ["error", "failed", "passed"],
        "com.example.OrderTest::failedTwice": ["failed", "failed"],
        "com.example.OrderTest::fine": ["passed"],
    }
    [(started,)] = query(db, "SELECT started_at FROM repetitions")
    assert started.isoformat().startswith("2026-11-20T02:00:00")


def test_a_malformed_file_names_its_line_and_the_batch_imports_nothing(
    suite: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<?xml version="1.0"?>\n<testsuite>\n  <testcase name="a">\n</testsuite>\n')
    not_junit = tmp_path / "pom.xml"
    not_junit.write_text("<project/>")
    db = tmp_path / "h.duckdb"
    for wrong, says in (
        (bad, "bad.xml: not well-formed XML at line 4"),
        (not_junit, "pom.xml: not JUnit XML"),
    ):
        result = stability("import", "junit", str(suite / "run1.xml"), str(wrong), "--db", str(db))
        assert result.exit_code == 2
        [line] = result.stderr.splitlines()
        assert says in line
    assert not db.exists()


@pytest.mark.parametrize(
    "nodeid",
    [
        "tests/api/test_orders.py::TestCart::TestNested::test_param[a.b]",
        "tests/test_x.py::test_y[1::2-x/y]",
        "test_top.py::test_z",
        XSS_ID,
    ],
)
def test_exported_names_read_back_as_the_same_node_id(nodeid: str) -> None:
    classname, name, file = classname_and_name(nodeid)
    assert node_id(classname, name)[0] == nodeid
    assert node_id(classname, name, file)[0] == nodeid


def test_report_as_junit(tmp_path: Path) -> None:
    db = report_history(tmp_path / "h.duckdb")
    result = stability("report", "--db", str(db), "--format", "junit", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    root = ET.parse(tmp_path / "junit.xml").getroot()  # well-formed, whatever the test names
    cases = {
        node_id(c.get("classname") or "", c.get("name") or "")[0]: c for c in root.iter("testcase")
    }
    assert len(cases) == 6 and XSS_ID in cases
    concurrent = cases["tests/test_orders.py::test_concurrent"]
    props = {p.get("name"): p.get("value") for p in concurrent.iter("property")}
    assert props["stability.flake_rate"] == "0.15"
    assert props["stability.verdict"] == "violates"
    assert props["stability.status"] == "flaky"
    assert float(props["stability.ci_low"] or 0) == pytest.approx(0.0524, abs=1e-4)
    failure = concurrent.find("failure")
    assert failure is not None and "violates the 1% target" in (failure.get("message") or "")
    assert cases["tests/test_orders.py::test_broken"].find("failure") is not None
    assert cases["tests/test_orders.py::test_skipped"].find("skipped") is not None
    assert XSS_MESSAGE in (cases[XSS_ID].findtext("failure") or "")
    assert root.get("failures") == str(
        sum(1 for c in cases.values() if c.find("failure") is not None)
    )
