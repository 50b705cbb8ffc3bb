"""`stability run` end to end through the CLI: real pytest processes, a real DuckDB file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result

from runner_support import invoke, probe_file

FLAKY_FILE = """
import os, pytest

REP = int(os.environ["STABILITY_REPETITION"])

def test_stable():
    pass

def test_flaky_30_percent():
    # deterministic by repetition: 3 in every 10 fail, so the share is exact
    assert REP % 10 not in {1, 4, 7}, f"unlucky repetition {REP}"

@pytest.mark.skip(reason="never")
def test_skipped():
    pass
"""


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql, list(params)).fetchall()
    finally:
        conn.close()


def test_flaky_share_and_counts_with_two_jobs(project: Path) -> None:
    (project / "test_flaky.py").write_text(FLAKY_FILE)
    result = invoke("test_flaky.py", "--repeat", "10", "--jobs", "2", "--json", "-q")
    assert result.exit_code == 1, result.output + result.stderr
    summary = json.loads(result.stdout)
    db = project / ".stability" / "history.duckdb"
    assert summary["db"] == ".stability/history.duckdb"
    assert summary["status"] == "completed" and summary["repetitions_done"] == 10
    assert summary["flaky_tests"] == ["test_flaky.py::test_flaky_30_percent"]
    assert summary["report_command"] == f"stability report --session {summary['session']}"

    assert query(db, "SELECT count(*) FROM repetitions") == [(10,)]
    assert query(db, "SELECT count(*) FROM executions") == [(30,)]
    assert query(db, "SELECT count(DISTINCT (repetition, nodeid)) FROM executions") == [(30,)]
    rows = query(db, "SELECT number, status, exit_code FROM repetitions ORDER BY number")
    assert [r[0] for r in rows if r[1] == "failed"] == [1, 4, 7]
    assert all(r[2] == (1 if r[1] == "failed" else 0) for r in rows)
    share = query(
        db,
        """
        SELECT avg((outcome = 'failed')::INT) FROM executions
        WHERE nodeid = 'test_flaky.py::test_flaky_30_percent'""",
    )
    assert share == [(pytest.approx(0.3),)]
    assert query(db, "SELECT DISTINCT outcome FROM executions WHERE nodeid LIKE '%stable'") == [
        ("passed",)
    ]
    assert query(db, "SELECT DISTINCT outcome FROM executions WHERE nodeid LIKE '%skipped'") == [
        ("skipped",)
    ]
    (signature,) = query(
        db, "SELECT DISTINCT failure_signature FROM executions WHERE outcome = 'failed'"
    )
    # the normalised message, then where it failed in the project
    assert signature == (
        "AssertionError: unlucky repetition <n> @ test_flaky.py:11 in test_flaky_30_percent",
    )
    # both --jobs slots were used
    assert query(db, "SELECT DISTINCT worker FROM repetitions ORDER BY 1") == [(1,), (2,)]
    session = query(
        db,
        "SELECT status, repeat, targets, json_extract(options, '$.jobs'), "
        "host IS NOT NULL, python_version IS NOT NULL FROM sessions",
    )
    assert session == [("completed", 10, ["test_flaky.py"], "2", True, True)]


def test_all_passing_exits_0_with_a_summary(project: Path) -> None:
    (project / "tests").mkdir()
    (project / "tests" / "test_ok.py").write_text(
        "import pytest\n\ndef test_a():\n    pass\n\n"
        "@pytest.mark.xfail\ndef test_b():\n    assert False\n"
    )
    db = project / "elsewhere.duckdb"
    result = invoke("tests", "--repeat", "2", "--db", str(db), "--label", "nightly")
    assert result.exit_code == 0, result.output + result.stderr
    out = result.stdout
    assert "2 of 2 repetitions (2 passed)" in out
    assert "tests: 2, executions: 4, failed repetitions: 0" in out
    assert "flaky tests: 0" in out
    assert f"history: {db}" in out
    assert "stability report --session 20" in out and f"--db {db}" in out
    assert "[2/2] repetition" in result.stderr  # plain progress lines when not on a TTY
    assert query(db, "SELECT label, status FROM sessions") == [("nightly", "completed")]


def test_git_information_is_recorded(project: Path) -> None:
    import subprocess

    (project / "test_ok.py").write_text("def test_a():\n    pass\n")
    for cmd in (
        ["init", "-q", "-b", "trunk"],
        ["add", "test_ok.py"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *cmd], cwd=project, check=True)
    (project / "test_ok.py").write_text("def test_a():\n    assert True\n")  # dirty
    assert invoke("test_ok.py", "--repeat", "1", "-q").exit_code == 0
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    rows = query(
        project / ".stability" / "history.duckdb",
        "SELECT git_commit, git_branch, git_dirty FROM sessions",
    )
    assert rows == [(head, "trunk", True)]


def test_pytest_args_go_through_to_xdist(project: Path) -> None:
    (project / "test_many.py").write_text(
        """
import pytest
from stability.exceptions import StartupTimeout

@pytest.mark.parametrize('i', range(6))
def test_i(i):
    assert i != 5

@pytest.fixture
def service():
    try:
        raise StartupTimeout("redis did not answer")
    except StartupTimeout as exc:
        pytest.fail(f"stability: {exc}", pytrace=False)

def test_service(service):
    pass
"""
    )
    result = invoke("test_many.py", "--repeat", "2", "-q", "--", "-n", "2")
    assert result.exit_code == 1, result.output + result.stderr
    db = project / ".stability" / "history.duckdb"
    assert query(db, "SELECT count(*), count(DISTINCT (repetition, nodeid)) FROM executions") == [
        (14, 14)
    ]
    assert query(db, "SELECT count(*) FROM executions WHERE outcome = 'failed'") == [(2,)]
    # what only the xdist worker knows (the infrastructure cause) reached the recorder
    infra = "SELECT DISTINCT outcome, infra FROM executions WHERE nodeid LIKE '%service'"
    assert query(db, infra) == [("error", True)]
    (options,) = query(db, "SELECT json_extract(options, '$.pytest_args') FROM sessions")
    assert json.loads(options[0]) == ["-n", "2"]


def test_a_pytest_started_by_a_test_is_not_recorded(project: Path) -> None:
    (project / "inner").mkdir()
    (project / "inner" / "test_inner.py").write_text("def test_inner():\n    pass\n")
    (project / "test_outer.py").write_text(
        """
import subprocess, sys
from pathlib import Path

INNER = str(Path(__file__).parent / "inner")

def test_runs_pytest_in_a_subprocess():
    done = subprocess.run([sys.executable, "-m", "pytest", INNER, "-q", "-n", "2"])
    assert done.returncode == 0

def test_runs_pytest_inline():
    import pytest
    assert pytest.main([INNER, "-q", "-p", "no:cacheprovider"]) == 0
"""
    )
    result = invoke("test_outer.py", "--repeat", "1", "-q")
    assert result.exit_code == 0, result.output + result.stderr
    db = project / ".stability" / "history.duckdb"
    assert query(db, "SELECT nodeid FROM executions ORDER BY 1") == [
        ("test_outer.py::test_runs_pytest_in_a_subprocess",),
        ("test_outer.py::test_runs_pytest_inline",),
    ]


def test_until_fail_stops_at_the_first_failure(project: Path) -> None:
    (project / "test_second.py").write_text(
        "import os\n\ndef test_x():\n    assert os.environ['STABILITY_REPETITION'] != '2'\n"
    )
    result = invoke("test_second.py", "--repeat", "20", "--until-fail", "--json", "-q")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["status"] == "stopped_at_failure"
    assert summary["repetitions"] == {"passed": 1, "failed": 1}


def test_a_crashing_process_is_recorded(project: Path) -> None:
    (project / "test_crash.py").write_text(
        "import os\n\ndef test_a():\n    pass\n\ndef test_b():\n    os._exit(7)\n\n"
        "def test_c():\n    pass\n"
    )
    result = invoke("test_crash.py", "--repeat", "1", "-q", "--", "-p", "no:randomly")
    assert result.exit_code == 1
    db = project / ".stability" / "history.duckdb"
    assert query(db, "SELECT status, exit_code FROM repetitions") == [("crashed", 7)]
    assert query(db, "SELECT nodeid, outcome FROM executions ORDER BY nodeid") == [
        ("test_crash.py::test_a", "passed"),
        ("test_crash.py::test_b", "crashed"),
    ]


def test_resume_carries_on_to_n(project: Path) -> None:
    (project / "test_ok.py").write_text("def test_a():\n    pass\n")
    first = json.loads(invoke("test_ok.py", "--repeat", "2", "--json", "-q").stdout)
    result = invoke("--resume", first["session"], "--repeat", "4", "--json", "-q")
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout)
    assert summary["session"] == first["session"] and summary["repetitions_done"] == 4
    db = project / ".stability" / "history.duckdb"
    assert query(db, "SELECT number FROM repetitions ORDER BY 1") == [(1,), (2,), (3,), (4,)]
    assert query(db, "SELECT count(*) FROM executions") == [(4,)]
    assert query(db, "SELECT count(*), any_value(repeat) FROM sessions") == [(1, 4)]
    # nothing left to do: a no-op, still exit 0
    assert invoke("--resume", first["session"], "-q").exit_code == 0


def _one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stability: error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr


def test_a_history_from_a_newer_version_is_refused(project: Path) -> None:
    (project / "test_ok.py").write_text("def test_a():\n    pass\n")
    db = project / "h.duckdb"
    assert invoke("test_ok.py", "--repeat", "1", "-q", "--db", str(db)).exit_code == 0
    conn = duckdb.connect(str(db))
    conn.execute("INSERT INTO schema_info (version) VALUES (99)")
    conn.close()
    result = invoke("test_ok.py", "--repeat", "1", "--db", str(db))
    _one_line_error(result, "newer pytest-stability")
    assert query(db, "SELECT count(*) FROM sessions") == [(1,)]


def test_no_docker_engine_is_infrastructure_exit_3(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-docker.sock")
    (project / "test_needs_pg.py").write_text(
        "def test_pg(postgres_url):\n    pass\n\ndef test_plain():\n    pass\n"
    )
    result = invoke("test_needs_pg.py", "--repeat", "1", "--json", "-q")
    assert result.exit_code == 3, result.output + result.stderr
    db = project / ".stability" / "history.duckdb"
    (rep,) = query(db, "SELECT status, error FROM repetitions")
    assert rep[0] == "infra" and "no Docker engine answers" in rep[1]
    assert query(db, "SELECT nodeid, outcome, phase, infra FROM executions ORDER BY 1") == [
        ("test_needs_pg.py::test_pg", "error", "setup", True),
        ("test_needs_pg.py::test_plain", "passed", None, False),
    ]
    assert query(db, "SELECT service, ok FROM container_starts") == [("postgres", False)]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"repeat": None}, "needs a repeat count"),
        ({"repeat": 0}, "repeat must be from 1 to"),
        ({"jobs": 0}, "jobs must be from 1 to"),
        ({"timeout": 0.0}, "timeout must be a positive number"),
        ({"timeout": float("nan")}, "timeout must be a positive number"),
    ],
)
def test_run_options_check_their_contract_without_naming_flags(
    changes: dict[str, Any], says: str
) -> None:
    from stability.runner.campaign import RunOptions

    fields: dict[str, Any] = {"targets": ["t.py"], "repeat": 2, **changes}
    with pytest.raises(ValueError, match=says) as caught:
        RunOptions(**fields)
    assert "--" not in str(caught.value)  # the CLI names its flags; the library does not


# Registered while the conftest loads, before the plugin configures: it runs after the
# plugin's exit handler, and says whether the objects were set aside from the collector.
FREEZE_PROBE = """
import atexit, gc, os

def _say():
    with open(os.environ["FREEZE_OUT"], "a") as out:
        out.write(f"{gc.get_freeze_count()}\\n")

atexit.register(_say)
"""


def test_a_repetition_process_skips_the_final_collections_and_a_plain_run_does_not(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "conftest.py").write_text(FREEZE_PROBE)
    (project / "test_one.py").write_text("def test_one():\n    pass\n")
    out = project / "frozen.txt"
    monkeypatch.setenv("FREEZE_OUT", str(out))
    result = invoke("test_one.py", "--repeat", "2", "-q")
    assert result.exit_code == 0, result.output
    counts = [int(n) for n in out.read_text().split()]
    assert len(counts) == 2 and all(n > 1000 for n in counts)  # every repetition
    out.unlink()
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py"],
        cwd=project,
        capture_output=True,
    )
    assert plain.returncode == 0, plain.stdout
    assert out.read_text().split() == ["0"]


BYTECODE_PROBE = """
import os, sys

def test_where_bytecode_goes():
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(f"{sys.dont_write_bytecode} {sys.pycache_prefix}\\n")
"""


@pytest.mark.parametrize("dont_write", ["1", ""])
def test_repetitions_cache_bytecode_in_a_folder_of_ours_where_it_is_not_written(
    project: Path, monkeypatch: pytest.MonkeyPatch, dont_write: str
) -> None:
    out = probe_file(project, monkeypatch, "test_bytecode.py", BYTECODE_PROBE)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", dont_write)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    cache = project.parent / f"cache-{project.name}"
    monkeypatch.setenv("STABILITY_BYTECODE_CACHE", str(cache))
    result = invoke("test_bytecode.py", "--repeat", "2", "-q")
    assert result.exit_code == 0, result.output
    seen = [line.split(" ", 1) for line in out.read_text().splitlines()]
    assert len(seen) == 2
    if dont_write:  # cached in our own folder, outside the project
        assert {tuple(line) for line in seen} == {("False", str(cache))}
        assert not list(project.rglob("__pycache__"))
        assert list(cache.rglob("test_bytecode*.pyc"))  # the rewritten test file
    else:  # as the user set it up: Python's own default
        assert all(prefix == "None" for _, prefix in seen)


def test_a_bytecode_folder_the_user_chose_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from stability.runner.bytecode_cache import with_bytecode_cache

    monkeypatch.setenv("STABILITY_BYTECODE_CACHE", "/ours")
    chosen = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/theirs"}
    assert with_bytecode_cache(chosen) == chosen
    assert with_bytecode_cache({"PYTHONDONTWRITEBYTECODE": "1", "A": "b"}) == {
        "A": "b",
        "PYTHONPYCACHEPREFIX": "/ours",
    }
    monkeypatch.delenv("STABILITY_BYTECODE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/home/me/.cache")
    assert with_bytecode_cache({"PYTHONDONTWRITEBYTECODE": "1"}) == {
        "PYTHONPYCACHEPREFIX": "/home/me/.cache/pytest-stability/bytecode"
    }
