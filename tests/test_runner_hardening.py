"""`stability run` against hostile numbers, signals and collection errors.

Real pytest processes and real DuckDB files; the signal test runs the CLI as a real
subprocess, since it signals it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from runner_support import invoke
from stability.runner.limits import MAX_REPEAT
from stability.runner.pending import PendingNumbers
from stability.store.db import connect

CLI = [sys.executable, "-c", "from stability.cli import main; main()"]


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with connect(db, "read") as conn:
        return conn.execute(sql).fetchall()


def test_pending_numbers_skip_the_completed_ones_in_order() -> None:
    pending = PendingNumbers(7, {2, 3, 6})
    assert len(pending) == 4
    assert [pending.popleft() for _ in range(4)] == [1, 4, 5, 7]
    assert not pending and len(pending) == 0
    with pytest.raises(IndexError):
        pending.popleft()


def test_pending_numbers_of_a_shard() -> None:
    pending = PendingNumbers(10, {5}, start=2, step=3)  # shard 2 of 3: 2, 5, 8
    assert (pending.total, len(pending), 5 in pending, 6 in pending) == (3, 2, True, False)
    assert [pending.popleft(), pending.popleft()] == [2, 8]
    assert not pending


def test_pending_numbers_take_no_memory_for_a_huge_n() -> None:
    tracemalloc.start()
    try:
        pending = PendingNumbers(MAX_REPEAT, {1, 5})
        taken = [pending.popleft() for _ in range(3)]
        assert len(pending) == MAX_REPEAT - 5
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert taken == [2, 3, 4]
    assert peak < 64 * 1024  # a list of N numbers would be gigabytes


def test_the_largest_repeat_runs_until_the_first_failure(project: Path) -> None:
    (project / "test_fails.py").write_text("def test_a():\n    assert False\n")
    result = invoke("test_fails.py", "--repeat", str(MAX_REPEAT), "--until-fail", "-q")
    assert result.exit_code == 1, result.output + result.stderr
    db = project / ".stability" / "history.duckdb"
    assert query(db, "SELECT repeat, status FROM sessions") == [(MAX_REPEAT, "stopped_at_failure")]
    assert query(db, "SELECT number, status FROM repetitions") == [(1, "failed")]


def test_a_collection_error_in_a_later_repetition_is_a_recorded_result(project: Path) -> None:
    # only the first repetition decides that the input is bad; later, it is flakiness
    (project / "test_late.py").write_text(
        "import os\n"
        "if os.environ['STABILITY_REPETITION'] == '2':\n"
        "    raise ImportError('flaky import')\n"
        "def test_a():\n    pass\n"
    )
    result = invoke("test_late.py", "--repeat", "2", "-q")
    assert result.exit_code == 1, result.output + result.stderr
    db = project / ".stability" / "history.duckdb"
    rows = query(db, "SELECT repetition, nodeid, outcome, phase FROM executions ORDER BY 1")
    assert rows == [
        (1, "test_late.py::test_a", "passed", None),
        (2, "test_late.py", "error", "collect"),
    ]


def test_resume_can_raise_n(project: Path) -> None:
    (project / "test_ok.py").write_text("def test_a():\n    pass\n")
    first = json.loads(invoke("test_ok.py", "--repeat", "2", "--json", "-q").stdout)
    lowered = invoke("--resume", first["session"], "--repeat", "1")
    assert lowered.exit_code == 2
    assert "was asked for 2 repetitions (2 stored)" in lowered.stderr
    raised = json.loads(invoke("--resume", first["session"], "--repeat", "3", "--json").stdout)
    assert (raised["repeat"], raised["repetitions_done"]) == (3, 3)


def test_sigterm_stops_cleanly_and_exits_143(project: Path) -> None:
    (project / "test_slow.py").write_text("import time\n\ndef test_a():\n    time.sleep(0.5)\n")
    db = project / "h.duckdb"
    runner = subprocess.Popen(
        [*CLI, "run", "test_slow.py", "--repeat", "50", "--db", str(db)],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (db.exists() and query(db, "SELECT count(*) FROM repetitions") != [(0,)]):
        assert time.monotonic() < deadline and runner.poll() is None
        time.sleep(0.2)
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 143, err
    assert "stability run --resume" in err and "Traceback" not in err
    assert query(db, "SELECT status FROM sessions") == [("interrupted",)]
