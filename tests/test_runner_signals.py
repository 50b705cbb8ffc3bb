"""The runner under signals: SIGKILL then --resume, Ctrl-C, and --timeout.

These run `stability run` as a real subprocess, since they signal it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stability.cli import main
from stability.exceptions import StoreError
from stability.store.db import connect

RUNNER = [sys.executable, "-c", "from stability.cli import main; main()", "run"]


def start_runner(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*RUNNER, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect(db, write=False) as conn:
        return conn.execute(sql).fetchall()


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def stored_repetitions(db: Path) -> int:
    try:
        return int(query(db, "SELECT count(*) FROM repetitions")[0][0])
    except StoreError:  # not created yet
        return 0


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie waiting for its reaper is gone for our purposes


def pids(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in folder.glob("*.pid")]


# Writes its pid (and the pid of a child process) so the test can check they died.
HANGING = """
import os, subprocess, time
from pathlib import Path

REP = int(os.environ["STABILITY_REPETITION"])
PIDS = Path(__file__).parent / "pids"

def test_first():
    pass

def test_hangs():
    if REP >= {hang_from}:
        PIDS.mkdir(exist_ok=True)
        child = subprocess.Popen(["sleep", "120"])
        (PIDS / f"{{REP}}-child.pid").write_text(str(child.pid))
        (PIDS / f"{{REP}}.pid").write_text(str(os.getpid()))
        time.sleep(120)
    else:
        time.sleep({sleep})

def test_never_reached_when_hanging():
    pass
"""


@pytest.mark.slow
def test_timeout_kills_the_group_and_records_the_running_test(project: Path) -> None:
    (project / "test_hang.py").write_text(HANGING.format(hang_from=1, sleep=0))
    began = time.monotonic()
    result = CliRunner().invoke(
        main,
        [
            "run",
            "test_hang.py",
            "--repeat",
            "1",
            "--timeout",
            "5",
            "--json",
            "-q",
            "--",
            "-p",
            "no:randomly",
        ],
        catch_exceptions=False,
    )
    assert time.monotonic() - began < 30
    assert result.exit_code == 1, result.output + result.stderr
    assert json.loads(result.stdout)["repetitions"] == {"timeout": 1}
    db = project / ".stability" / "history.duckdb"
    (rep,) = query(db, "SELECT status, error, exit_code FROM repetitions")
    assert rep[0] == "timeout" and rep[2] == -signal.SIGKILL
    assert "timed out after 5 s; running: test_hang.py::test_hangs" in rep[1]
    rows = query(db, "SELECT nodeid, outcome, failure_signature FROM executions ORDER BY 1")
    assert rows == [
        ("test_hang.py::test_first", "passed", None),
        ("test_hang.py::test_hangs", "timeout", "timeout"),
    ]  # the test that never started is not counted
    found = pids(project / "pids")
    assert len(found) == 2
    wait_for(lambda: not any(alive(pid) for pid in found), timeout=10)


@pytest.mark.slow
def test_sigkill_then_resume_completes_without_duplicates(project: Path) -> None:
    (project / "test_slow.py").write_text(HANGING.format(hang_from=10**6, sleep=0.3))
    db = project / "h.duckdb"
    # the runner writes what ended every few seconds: enough repetitions that it is
    # killed with some still to come
    runner = start_runner(project, "test_slow.py", "--repeat", "15", "--db", str(db))
    try:
        wait_for(lambda: stored_repetitions(db) >= 2)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.communicate()
    kept = stored_repetitions(db)
    assert 2 <= kept < 15
    (session, status) = query(db, "SELECT id, status FROM sessions")[0]
    assert status == "running"  # the killed runner could not say more
    # the orphaned repetition notices its runner is gone and stops by itself
    wait_for(lambda: not _pytest_children_of(session), timeout=30)

    resumed = subprocess.run(
        [*RUNNER, "--resume", session, "--db", str(db), "--json", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["repetitions_done"] == 15
    assert query(db, "SELECT number FROM repetitions ORDER BY 1") == [(n,) for n in range(1, 16)]
    assert query(db, "SELECT count(*), count(DISTINCT (repetition, nodeid)) FROM executions") == [
        (45, 45)
    ]
    assert query(db, "SELECT status FROM sessions") == [("completed",)]


def _pytest_children_of(session: str) -> list[int]:
    """Processes whose environment names this session (repetitions still running)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"STABILITY_SESSION_ID={session}".encode() in environ and alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def test_ctrl_c_kills_running_repetitions_and_keeps_completed_ones(project: Path) -> None:
    (project / "test_hang.py").write_text(HANGING.format(hang_from=2, sleep=0))
    db = project / "h.duckdb"
    runner = start_runner(
        project,
        "test_hang.py",
        "--repeat",
        "4",
        "--jobs",
        "2",
        "--db",
        str(db),
        "--",
        "-p",
        "no:randomly",
    )
    try:
        wait_for(lambda: stored_repetitions(db) >= 1 and len(pids(project / "pids")) >= 4)
        runner.send_signal(signal.SIGINT)
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130, err
    assert "stopping: killed repetition(s) 2, 3" in err
    assert "1 of 4 repetitions" in err and "stability run --resume" in err
    assert query(db, "SELECT number, status FROM repetitions") == [(1, "passed")]
    assert query(db, "SELECT status, finished_at IS NOT NULL FROM sessions") == [
        ("interrupted", True)
    ]
    found = pids(project / "pids")
    wait_for(lambda: not any(alive(pid) for pid in found), timeout=10)
    assert not out  # the summary of an interrupted run goes to stderr
    assert os.path.exists(db)


def test_two_campaigns_on_one_file_at_once(project: Path) -> None:
    (project / "test_ok.py").write_text("import time\n\ndef test_a():\n    time.sleep(0.2)\n")
    db = project / "h.duckdb"
    runners = [
        start_runner(project, "test_ok.py", "--repeat", "3", "--db", str(db), "-q")
        for _ in range(2)
    ]
    for runner in runners:
        _, err = runner.communicate(timeout=120)
        assert runner.returncode == 0, err
    assert query(db, "SELECT count(*), count(DISTINCT status) FROM sessions") == [(2, 1)]
    assert query(db, "SELECT count(*) FROM repetitions") == [(6,)]
    assert query(db, "SELECT count(*) FROM executions") == [(6,)]


def test_resume_of_a_session_whose_runner_is_alive_is_refused(project: Path) -> None:
    (project / "test_slow.py").write_text(HANGING.format(hang_from=10**6, sleep=0.3))
    db = project / "h.duckdb"
    runner = start_runner(project, "test_slow.py", "--repeat", "50", "--db", str(db), "-q")
    try:
        wait_for(lambda: stored_repetitions(db) >= 1)
        (session,) = query(db, "SELECT id FROM sessions")[0]
        second = CliRunner().invoke(
            main, ["run", "--resume", session, "--db", str(db)], catch_exceptions=False
        )
        assert second.exit_code == 2
        assert second.stderr == (
            f"stability: error: session {session} is still being run by process "
            f"{runner.pid}; wait for it to finish or stop it, then --resume\n"
        )
    finally:
        runner.send_signal(signal.SIGINT)
        runner.communicate(timeout=60)
