"""The standing guard: bad input to every command is one line on stderr and exit 2.

Each case runs a command against a workspace holding a real history and a set of files
that are not histories (another program's DuckDB file, a SQLite file, junk), and checks
the answer: exit 2, exactly one line on stderr starting `stability: error:` and naming
the problem, no traceback; and every file of the workspace byte-identical afterwards
(nothing written into a file that is not ours, no history changed, no report or
session created by a failed command). Most cases run in-process (CliRunner); a few run
the real `stability` executable to prove the same end to end.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from history_factory import History
from stability.cli import main

SESSION = "20261101-020000-aaaa"

PASSING_TEST = "def test_a():\n    pass\n"
SYNTAX_ERROR = "def test_a(:\n    pass\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace built once; each case works on a fresh copy of it."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "test_ok.py").write_text(PASSING_TEST)
    (root / "test_syntax.py").write_text(SYNTAX_ERROR)
    (root / "sub").mkdir()
    (root / "sub" / "conftest.py").write_text("import module_that_does_not_exist\n")
    (root / "sub" / "test_sub.py").write_text(PASSING_TEST)
    (root / "notes.txt").write_text("not tests\n")
    (root / "junit.xml").write_text(
        '<testsuite name="pytest"><testcase classname="test_ok" name="test_a" '
        'file="test_ok.py" time="0.01"/></testsuite>\n'
    )
    (root / "file.txt").write_text("a file, not a folder\n")
    (root / "a-folder").mkdir()
    (root / "a-folder" / "keep.txt").write_text("x")
    (root / "corrupt.duckdb").write_bytes(b"this is not a database" * 100)
    (root / "zero.duckdb").write_bytes(b"")
    lite = sqlite3.connect(root / "app.sqlite")
    lite.execute("CREATE TABLE users (id INTEGER)")
    lite.commit()
    lite.close()
    foreign = duckdb.connect(str(root / "foreign.duckdb"))
    foreign.execute("CREATE TABLE sessions (token VARCHAR, user_id INTEGER)")
    foreign.execute("INSERT INTO sessions VALUES ('abc', 1)")
    foreign.close()

    history = History(root / "history.duckdb")
    history.session(SESSION, {"test_ok.py::test_a": "PF"}, targets=["test_ok.py"])
    history.write()
    with duckdb.connect(str(root / "history.duckdb")) as conn:
        conn.execute("UPDATE sessions SET status = 'interrupted'")
    for name, damage in {
        "version-zero.duckdb": "UPDATE schema_info SET version = 0",
        "version-negative.duckdb": "UPDATE schema_info SET version = -3",
        "version-newer.duckdb": "UPDATE schema_info SET version = 99",
        "version-text.duckdb": (
            "ALTER TABLE schema_info ALTER version TYPE VARCHAR; "
            "UPDATE schema_info SET version = 'one'"
        ),
        "no-column.duckdb": "ALTER TABLE executions DROP COLUMN outcome",
        "no-table.duckdb": "DROP TABLE container_logs",
    }.items():
        (root / name).write_bytes((root / "history.duckdb").read_bytes())
        with duckdb.connect(str(root / name)) as conn:
            conn.execute(damage)
    return root


@pytest.fixture
def workspace(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(template), str(root)], check=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("STABILITY_DB", str(root / "history.duckdb"))
    for name in ("STABILITY_POSTGRES_TIMEOUT", "STABILITY_REDIS_TIMEOUT", "STABILITY_SEED"):
        monkeypatch.delenv(name, raising=False)
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with its checksum (new, changed or removed files show)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts
    }


H = "history.duckdb"
S = SESSION

# (command line, environment, what the one line must say)
CASES: list[tuple[list[str], dict[str, str], str]] = [
    # -- run: targets ----------------------------------------------------------------
    (["run", "missing.py", "--repeat", "2"], {}, "'missing.py' does not exist"),
    (["run", "missing.py::test_x", "--repeat", "2"], {}, "does not exist"),
    (["run", "a-folder::test_x", "--repeat", "2"], {}, "a node id needs a file"),
    (["run", "notes.txt", "--repeat", "2"], {}, "not a pytest target"),
    (["run", "--repeat", "2"], {}, "at least one test file"),
    (["run", "test_syntax.py", "--repeat", "2"], {}, "cannot collect test_syntax.py: SyntaxError"),
    (
        ["run", "sub/test_sub.py", "--repeat", "2", "-j", "2"],
        {},
        "cannot load sub/conftest.py: ModuleNotFoundError",
    ),
    # -- run: numbers ----------------------------------------------------------------
    (["run", "test_ok.py"], {}, "--repeat N is required"),
    (["run", "test_ok.py", "--repeat", "0"], {}, "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", "-5"], {}, "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", "ten"], {}, "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", "1.5"], {}, "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", ""], {}, "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", "2147483648"], {}, "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", "9" * 40], {}, "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", "2", "--jobs", "0"], {}, "'--jobs'"),
    (["run", "test_ok.py", "--repeat", "2", "--jobs", "-1"], {}, "'--jobs'"),
    (["run", "test_ok.py", "--repeat", "2", "--jobs", "257"], {}, "'--jobs'"),
    (["run", "test_ok.py", "--repeat", "2", "--jobs", "1e9"], {}, "'--jobs'"),
    (["run", "test_ok.py", "--repeat", "2", "--timeout", "0"], {}, "'--timeout'"),
    (["run", "test_ok.py", "--repeat", "2", "--timeout", "-3"], {}, "'--timeout'"),
    (
        ["run", "test_ok.py", "--repeat", "2", "--timeout", "nan"],
        {},
        "'--timeout'",
    ),
    (
        ["run", "test_ok.py", "--repeat", "2", "--timeout", "inf"],
        {},
        "'--timeout'",
    ),
    (["run", "test_ok.py", "--repeat", "2", "--timeout", "1e999"], {}, "'--timeout'"),
    (["run", "test_ok.py", "--repeat", "2", "--timeout", "soon"], {}, "'--timeout'"),
    # -- run: options, databases, sessions --------------------------------------------
    (["run", "test_ok.py", "--repeat", "2", "--label", ""], {}, "'--label': must not be empty"),
    (["run", "test_ok.py", "--repeat", "2", "--bogus"], {}, "No such option '--bogus'"),
    (["run", "test_ok.py", "--repeat", "2", "--db", ""], {}, "'--db': must not be empty"),
    (["run", "test_ok.py", "--repeat", "2", "--db", "file.txt/h.duckdb"], {}, "cannot create"),
    (["run", "test_ok.py", "--repeat", "2", "--db", "a-folder"], {}, "is a folder"),
    (["run", "test_ok.py", "--repeat", "2", "--db", "corrupt.duckdb"], {}, "not a DuckDB file"),
    (["run", "test_ok.py", "--repeat", "2", "--db", "zero.duckdb"], {}, "(an empty file)"),
    (["run", "test_ok.py", "--repeat", "2", "--db", "app.sqlite"], {}, "(it is a SQLite file)"),
    (
        ["run", "test_ok.py", "--repeat", "2", "--db", "foreign.duckdb"],
        {},
        "other tables: sessions",
    ),
    (["run", "test_ok.py", "--repeat", "2", "--db", "version-newer.duckdb"], {}, "newer"),
    (["run", "test_ok.py", "--repeat", "2", "--db", "no-column.duckdb"], {}, "lacks column(s)"),
    (["run", "--resume", ""], {}, "'--resume': must not be empty"),
    (["run", "--resume", "nope"], {}, "no session 'nope'"),
    (["run", "--resume", S, "test_ok.py"], {}, "give no targets"),
    (["run", "--resume", S, "--repeat", "1"], {}, "can raise N, not lower it"),
    (["run", "--resume", S, "--db", "missing.duckdb"], {}, "no history at missing.duckdb"),
    # -- run: pytest arguments, environment -------------------------------------------
    (["run", "test_ok.py", "--repeat", "2", "--", "--no-such-option"], {}, "pytest refused"),
    (["run", "test_ok.py", "--repeat", "2", "--", "-k", "nothing"], {}, "collected no tests"),
    (
        ["run", "test_ok.py", "--repeat", "2"],
        {"STABILITY_POSTGRES_TIMEOUT": "abc"},
        "postgres_timeout in the environment",
    ),
    (
        ["run", "test_ok.py", "--repeat", "2"],
        {"STABILITY_REDIS_TIMEOUT": "-1"},
        "redis_timeout in the environment",
    ),
    (["run", "test_ok.py", "--repeat", "2"], {"STABILITY_SEED": "no-colon"}, "module:function"),
    (["run", "test_ok.py", "--repeat", "2"], {"STABILITY_DB": "app.sqlite"}, "SQLite file"),
    # -- report ------------------------------------------------------------------------
    (["report", "--db", "app.sqlite"], {}, "app.sqlite is not a pytest-stability history"),
    (["report", "--db", "foreign.duckdb"], {}, "other tables: sessions"),
    (["report", "--db", "corrupt.duckdb"], {}, "not a DuckDB file"),
    (["report", "--db", "zero.duckdb"], {}, "(an empty file)"),
    (["report", "--db", "missing.duckdb"], {}, "no history at missing.duckdb"),
    (["report", "--db", "a-folder"], {}, "is a folder"),
    (["report", "--db", ""], {}, "'--db': must not be empty"),
    (["report"], {"STABILITY_DB": "app.sqlite"}, "(it is a SQLite file)"),
    (["report", "--db", "version-zero.duckdb"], {}, "schema version 0 is not a positive"),
    (["report", "--db", "version-negative.duckdb"], {}, "schema version -3"),
    (["report", "--db", "version-text.duckdb"], {}, "schema version 'one'"),
    (["report", "--db", "version-newer.duckdb"], {}, "newer pytest-stability"),
    (["report", "--db", "no-column.duckdb"], {}, "executions lacks column(s) outcome"),
    (["report", "--db", "no-table.duckdb"], {}, "table container_logs is missing"),
    (["report", "--session", ""], {}, "'--session': must not be empty"),
    (["report", "--session", "nope"], {}, "no session 'nope'"),
    (["report", "--session", S, "--label", "nightly"], {}, "--session picks one session"),
    (["report", "--label", ""], {}, "'--label': must not be empty"),
    (["report", "--commit", ""], {}, "'--commit': must not be empty"),
    (["report", "--since", ""], {}, "'--since': must not be empty"),
    (["report", "--since", "yesterday"], {}, "write a duration like 7d"),
    (["report", "--since", "999999999d"], {}, "before year 1"),
    (["report", "--since", "2026-13-45"], {}, "write a duration like 7d"),
    (["report", "--target", "150%"], {}, "--target"),
    (["report", "--target", "-1%"], {}, "--target"),
    (["report", "--target", "abc"], {}, "not a rate: 'abc'"),
    (["report", "--slow-threshold", "0"], {}, "--slow-threshold"),
    (["report", "--startup-target", "-1"], {}, "--startup-target"),
    (["report", "--format", "pdf"], {}, "'pdf' is not one of"),
    (["report", "--out", "file.txt"], {}, "'file.txt' is a file"),
    # -- check, sessions, show, logs ----------------------------------------------------
    (["check", "--max-flake-rate", "abc"], {}, "not a rate"),
    (["check", "--max-flake-rate", "2"], {}, "--max-flake-rate"),
    (["check", "--max-p95", "0"], {}, "--max-p95"),
    (["check", "--db", "app.sqlite"], {}, "SQLite file"),
    (["check", "--since", "1e5x"], {}, "write a duration"),
    (["sessions", "--limit", "-1"], {}, "--limit"),
    (["sessions", "--limit", "many"], {}, "--limit"),
    (["sessions", "--db", "foreign.duckdb"], {}, "other tables"),
    (["sessions", "--since", "later"], {}, "write a duration"),
    (["show"], {}, "Missing argument 'NODEID'"),
    (["show", ""], {}, "must not be empty"),
    (["show", "test_nothing_like_it"], {}, "test_nothing_like_it"),
    (["show", "test_a", "--db", "corrupt.duckdb"], {}, "not a DuckDB file"),
    (["logs", S, "999"], {}, "no repetition 999 in session"),
    (["logs", S, "0"], {}, "REPETITION"),
    (["logs", S, "many"], {}, "REPETITION"),
    (["logs", "nope", "1"], {}, "no session 'nope'"),
    (["logs", "", "1"], {}, "must not be empty"),
    (["logs", S, "1", "--service", "mysql"], {}, "'mysql' is not one of"),
    (["logs", S, "1", "--db", "app.sqlite"], {}, "SQLite file"),
    (["report", "--format", "junit", "--out", "file.txt"], {}, "'file.txt' is a file"),
    # -- merge, import, quarantine ------------------------------------------------------
    (["merge", "--into", "merged.duckdb", "app.sqlite"], {}, "app.sqlite is not a DuckDB file"),
    (["merge", "--into", "app.sqlite", H], {}, "(it is a SQLite file)"),
    (["merge", "--into", "foreign.duckdb", H], {}, "other tables: sessions"),
    (["merge", "--into", "merged.duckdb", "missing.duckdb"], {}, "missing.duckdb: no such file"),
    (["merge", "--into", H, H], {}, "is the target itself"),
    (["merge", "--into", "merged.duckdb"], {}, "Missing argument"),
    (["merge", H], {}, "Missing option '--into'"),
    (["merge", "--into", "merged.duckdb", "corrupt.duckdb"], {}, "not a DuckDB file"),
    (["import", "junit", "notes.txt"], {}, "notes.txt: not well-formed XML"),
    (["import", "junit", "missing.xml"], {}, "missing.xml: cannot read it"),
    (["import", "junit", "junit.xml", "--db", "app.sqlite"], {}, "(it is a SQLite file)"),
    (["import", "junit", "junit.xml", "--db", "foreign.duckdb"], {}, "other tables"),
    (["import", "junit", "junit.xml", "--label", ""], {}, "must not be empty"),
    (["import", "junit"], {}, "Missing argument"),
    (["quarantine", "--db", "app.sqlite"], {}, "(it is a SQLite file)"),
    (["quarantine", "--days", "0"], {}, "'--days'"),
    (["quarantine", "--target", "abc"], {}, "not a rate"),
    (["quarantine", "--out", "notes.txt"], {}, "notes.txt"),
    (["containers", "prune", "--session", ""], {}, "must not be empty"),
    (["containers", "list", "--session", ""], {}, "must not be empty"),
    (["nonsense"], {}, "No such command 'nonsense'"),
]


def _case_id(case: tuple[list[str], dict[str, str], str]) -> str:
    args, env, _ = case
    text = " ".join(a if a else '""' for a in args) + "".join(f" {k}={v}" for k, v in env.items())
    return text[:70]


def assert_one_line_error(exit_code: int, stdout: str, stderr: str, fragment: str) -> None:
    assert exit_code == 2, f"exit {exit_code}\n{stdout}\n{stderr}"
    lines = stderr.strip("\n").splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("stability: error: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in stdout + stderr


@pytest.mark.parametrize(("args", "env", "fragment"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input(
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    fragment: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = snapshot(workspace)
    result = CliRunner().invoke(main, args, prog_name="stability", catch_exceptions=False)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, fragment)
    assert snapshot(workspace) == before  # nothing written, created or changed


def test_the_table_covers_every_command_with_sixty_cases_or_more() -> None:
    assert len(CASES) >= 60
    commands = {args[0] for args, _, _ in CASES}
    assert commands >= {
        "run",
        "report",
        "check",
        "sessions",
        "show",
        "logs",
        "containers",
        "merge",
        "import",
        "quarantine",
    }


# A few of the same, through the real executable: no traceback end to end.
END_TO_END = [
    (["run", "test_ok.py", "--repeat", "2147483648"], "Invalid value for '--repeat'"),
    (["run", "test_ok.py", "--repeat", "1", "--db", "foreign.duckdb"], "other tables"),
    (["report", "--db", "app.sqlite"], "(it is a SQLite file)"),
    (["report", "--since", "999999999d"], "before year 1"),
    (["sessions", "--db", "version-text.duckdb"], "schema version 'one'"),
]


@pytest.mark.parametrize(("args", "fragment"), END_TO_END, ids=[" ".join(a) for a, _ in END_TO_END])
def test_bad_input_end_to_end(workspace: Path, args: list[str], fragment: str) -> None:
    before = snapshot(workspace)
    proc = subprocess.run(
        [sys.executable, "-c", "from stability.cli import main; main()", *args],
        cwd=workspace,
        env={**os.environ, "STABILITY_DB": str(workspace / H)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, fragment)
    assert snapshot(workspace) == before
