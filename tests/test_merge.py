"""`stability merge` on real DuckDB files: whole histories, repeats, refusals, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from history_factory import History
from stability.cli import main
from stability.store.schema import MIGRATIONS

TESTS = {"tests/test_a.py::test_ok": "PPPP", "tests/test_a.py::test_flaky": "PFPP"}


def merge(*args: str) -> Result:
    return CliRunner().invoke(main, ["merge", *args], catch_exceptions=False)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def snapshot(db: Path) -> list[Any]:
    """Everything a merge could change, to compare before and after."""
    return [
        query(db, f"SELECT * FROM {table} ORDER BY ALL")
        for table in ("sessions", "repetitions", "executions", "container_starts")
    ]


def history(path: Path, *sessions: str, repeat: int = 4) -> Path:
    h = History(path)
    for session_id in sessions:
        h.session(session_id, {k: v[:repeat] for k, v in TESTS.items()}, startup_s={"redis": 0.5})
    return h.write()


def test_whole_histories_from_two_machines_merge_and_a_second_merge_adds_nothing(
    tmp_path: Path,
) -> None:
    a = history(tmp_path / "a.duckdb", "20261101-020000-aaaa", "20261102-020000-bbbb")
    b = history(tmp_path / "b.duckdb", "20261103-020000-cccc")
    into = tmp_path / "all.duckdb"
    result = merge(str(a), str(b), "--into", str(into), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sessions_added"] == 3 and summary["repetitions_added"] == 12
    assert summary["executions_added"] == 24
    assert query(into, "SELECT count(*) FROM container_starts") == [(12,)]
    before = snapshot(into)

    again = merge(str(b), str(a), str(a), "--into", str(into), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["repetitions_added"] == 0
    assert json.loads(again.stdout)["repetitions_skipped"] == 12
    assert snapshot(into) == before


def _set_options(db: Path, session_id: str, options: dict[str, Any]) -> None:
    conn = duckdb.connect(str(db))
    try:
        conn.execute(
            "UPDATE sessions SET options = ? WHERE id = ?", [json.dumps(options), session_id]
        )
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("repeat", "repeat is 3 in b.duckdb but 4 in all.duckdb"),
        ("options", 'options.pytest_args is ["-k", "slow"] in b.duckdb but ["-x"] in all.duckdb'),
    ],
)
def test_files_that_disagree_about_a_session_are_refused_and_nothing_is_merged(
    tmp_path: Path, change: str, named: str
) -> None:
    shared = "nightly-77"
    a = history(tmp_path / "a.duckdb", shared)
    _set_options(a, shared, {"pytest_args": ["-x"], "shard": "1/2", "runner_pid": 1})
    if change == "repeat":
        b = history(tmp_path / "b.duckdb", shared, repeat=3)
        _set_options(b, shared, {"pytest_args": ["-x"], "shard": "2/2", "runner_pid": 2})
    else:
        b = history(tmp_path / "b.duckdb", shared)
        _set_options(b, shared, {"pytest_args": ["-k", "slow"], "shard": "2/2", "runner_pid": 2})
    other = history(tmp_path / "other.duckdb", "20261105-020000-eeee")
    into = tmp_path / "all.duckdb"
    assert merge(str(a), "--into", str(into)).exit_code == 0
    before = snapshot(into)

    # `other` merges first, then `b` is refused: the whole merge is undone
    result = merge(str(other), str(b), "--into", str(into))
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("stability: error: ") and "session nightly-77" in line
    assert named in line
    assert snapshot(into) == before


def test_shards_of_one_session_become_one_session(tmp_path: Path) -> None:
    h = History(tmp_path / "s1.duckdb")
    h.session("ci-1234", TESTS, started_at=None)
    s1 = h.write()
    s2 = tmp_path / "s2.duckdb"
    s2.write_bytes(s1.read_bytes())
    # shard 1 keeps repetitions 1 and 3, shard 2 keeps 2 and 4, one hour later
    for path, keep, shard in ((s1, (1, 3), "1/2"), (s2, (2, 4), "2/2")):
        conn = duckdb.connect(str(path))
        for table, column in (("repetitions", "number"), ("executions", "repetition")):
            conn.execute(f"DELETE FROM {table} WHERE {column} NOT IN {keep}")
        conn.execute("UPDATE repetitions SET shard = ?", [shard])
        if shard == "2/2":
            conn.execute(
                "UPDATE sessions SET started_at = started_at + INTERVAL 1 HOUR, "
                "finished_at = finished_at + INTERVAL 1 HOUR, status = 'interrupted'"
            )
        conn.close()
    into = tmp_path / "all.duckdb"
    assert merge(str(s2), str(s1), "--into", str(into)).exit_code == 0
    [(started, finished, status)] = query(
        into, "SELECT started_at, finished_at, status FROM sessions"
    )
    [(first_start, _)] = query(s1, "SELECT started_at, finished_at FROM sessions")
    [(_, last_finish)] = query(s2, "SELECT started_at, finished_at FROM sessions")
    assert (started, finished, status) == (first_start, last_finish, "interrupted")
    assert query(into, "SELECT number, shard FROM repetitions ORDER BY 1") == [
        (1, "1/2"), (2, "2/2"), (3, "1/2"), (4, "2/2")
    ]  # fmt: skip


def test_the_same_repetition_in_two_shards_is_refused(tmp_path: Path) -> None:
    a = history(tmp_path / "a.duckdb", "ci-9")
    b = history(tmp_path / "b.duckdb", "ci-9")
    conn = duckdb.connect(str(b))
    conn.execute("UPDATE repetitions SET started_at = started_at + INTERVAL 1 SECOND")
    conn.close()
    result = merge(str(a), str(b), "--into", str(tmp_path / "all.duckdb"))
    assert result.exit_code == 2
    assert "repetition 1 of session ci-9 was run twice" in result.stderr


def test_an_older_schema_merges_with_its_columns(tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(old))
    conn.execute(str(MIGRATIONS[0]))  # version 1 is SQL
    conn.execute("INSERT INTO schema_info (version) VALUES (1)")
    conn.execute(
        "INSERT INTO sessions (id, started_at, targets, repeat) VALUES "
        "('old-1', TIMESTAMPTZ '2026-10-01 02:00:00+00', ['tests'], 1)"
    )
    conn.execute(
        "INSERT INTO repetitions (session_id, number, started_at, status) VALUES "
        "('old-1', 1, TIMESTAMPTZ '2026-10-01 02:00:00+00', 'passed')"
    )
    conn.execute(
        "INSERT INTO executions (session_id, repetition, nodeid, outcome) VALUES "
        "('old-1', 1, 'tests/t.py::test_x', 'passed')"
    )
    conn.close()
    into = tmp_path / "all.duckdb"
    assert merge(str(old), "--into", str(into)).exit_code == 0
    assert query(into, "SELECT session_id, number, shard FROM repetitions") == [("old-1", 1, None)]
    assert query(old, "SELECT max(version) FROM schema_info") == [(1,)]  # never written


def test_files_that_are_not_histories_are_refused_in_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    foreign = tmp_path / "foreign.duckdb"
    conn = duckdb.connect(str(foreign))
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    into = tmp_path / "all.duckdb"
    for bad, says in (
        (text, "is not a DuckDB file"),
        (foreign, "is not a pytest-stability history"),
        (tmp_path / "missing.duckdb", "no such file"),
        (into, "is the target itself"),
    ):
        result = merge(str(bad), "--into", str(into))
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert says in line and str(bad.name) in line
    assert not into.exists()  # a refused merge into a new file leaves no file
    assert query(foreign, "SELECT table_name FROM information_schema.tables") == [("customers",)]


MAKE_BIG = """
import sys
from pathlib import Path
from stability.store.db import connect
with connect(Path(sys.argv[1]), write=True) as conn:
    conn.execute("SET enable_progress_bar = false")
    conn.execute("INSERT INTO sessions (id, started_at, targets, repeat) VALUES "
                 "('big', now(), ['t'], 2000)")
    conn.execute("INSERT INTO repetitions (session_id, number, started_at, status) "
                 "SELECT 'big', r, now(), 'passed' FROM range(1, 2001) t(r)")
    conn.execute("INSERT INTO executions (session_id, repetition, nodeid, outcome, message) "
                 "SELECT 'big', 1 + i % 2000, 'tests/t.py::test_' || (i // 2000), 'failed', "
                 "repeat('x', 200) || i FROM range(1000000) t(i)")
"""


@pytest.mark.slow
def test_a_merge_killed_midway_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    big = tmp_path / "big.duckdb"
    subprocess.run([sys.executable, "-c", MAKE_BIG, str(big)], check=True, timeout=300)
    into = history(tmp_path / "all.duckdb", "20261101-020000-aaaa")
    before = snapshot(into)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from stability.cli import main; main()", "merge", str(big),
         "--into", str(into)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    # DuckDB writes a big insert's blocks into the file before it commits: kill once the
    # file has grown by a few MB, well inside the transaction
    size = into.stat().st_size
    deadline = time.monotonic() + 60
    while into.stat().st_size < size + (4 << 20) and proc.poll() is None:
        assert time.monotonic() < deadline, "the merge never started writing"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the merge finished before it could be killed"
    assert snapshot(into) == before
