"""SIGKILL of the runner in a container-backed `--jobs 2` campaign, at several moments.

The runner is a real `stability run` process; each repetition starts a real PostgreSQL
(with a migration and a slow seed) and Redis. The runner is killed while containers
start, while the seed runs, in the middle of a test, and right as a repetition is being
stored. After each kill: within seconds, no container of the session remains, no
pytest process of it lingers, no temporary folder is left, and every stored repetition
is whole. Then `--resume` carries on, and the last one completes to exactly N.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from stability.containers.cleanup import list_managed
from stability.store.db import connect

pytestmark = [pytest.mark.docker, pytest.mark.slow]

N = 6
RUNNER = [sys.executable, "-c", "from stability.cli import main; main()", "run"]

PYPROJECT = """
[tool.stability]
migrations = "migrations"
seed = "seeding:seed"
"""

SEED = """
import os, time
from pathlib import Path

def seed(conn):
    marks = Path(__file__).parent / "marks"
    marks.mkdir(exist_ok=True)
    (marks / f"seeding-{os.environ['STABILITY_REPETITION']}").touch()
    conn.execute("INSERT INTO items VALUES (1)")
    time.sleep(1.0)
"""

TESTS = """
import os, time
from pathlib import Path

def test_items(pg_transaction, redis_client):
    marks = Path(__file__).parent / "marks"
    (marks / f"testing-{os.environ['STABILITY_REPETITION']}").touch()
    assert pg_transaction.execute("SELECT count(*) FROM items").fetchone() == (1,)
    redis_client.set("k", "v")
    time.sleep(1.0)

def test_plain():
    pass
"""


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect(db, "read") as conn:
        return conn.execute(sql).fetchall()


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return int(query(db, "SELECT count(*) FROM repetitions")[0][0])
    except Exception:  # not yet a history
        return 0


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def no_containers(session: str) -> bool:
    return list_managed(session=session) == []


def wait_while_running(
    runner: subprocess.Popen[str], condition: Callable[[], bool], what: str
) -> None:
    def reached() -> bool:
        if runner.poll() is not None:
            raise AssertionError(f"the runner ended before {what}: {runner.communicate()}")
        return condition()

    wait_until(reached, 180, what)


def session_processes(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (repetitions of this test)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(proc.name))
    return found


@pytest.fixture
def campaign(project: Path) -> Path:
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "migrations").mkdir()
    (project / "migrations" / "001.sql").write_text("CREATE TABLE items (id INTEGER);\n")
    (project / "seeding.py").write_text(SEED)
    (project / "test_backed.py").write_text(TESTS)
    (project / "marks").mkdir()
    (project / "tmp").mkdir()
    return project


def test_sigkill_at_any_moment_leaves_nothing_behind_and_resume_completes(
    campaign: Path,
) -> None:
    db = campaign / "h.duckdb"
    marks = campaign / "marks"
    tmp = campaign / "tmp"
    marker = uuid.uuid4().hex  # this run's processes, not those of another run of this test
    tag = f"STABILITY_KILL_TEST={marker}"
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "STABILITY_KILL_TEST": marker,
        # about kills, not start-up time: a loaded machine may take long to start PostgreSQL
        "STABILITY_POSTGRES_TIMEOUT": "180",
        # the seed in every repetition (no snapshot), so a kill can land while it runs;
        # Redis still comes from the runner's pool
        "STABILITY_SNAPSHOT": "false",
    }
    args = ["--repeat", str(N), "--jobs", "2", "--db", str(db), "-q"]

    def start(*extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*RUNNER, *extra, *args],
            cwd=campaign,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def new_mark(prefix: str) -> Callable[[], bool]:
        seen = {p.name for p in marks.glob(f"{prefix}-*")}
        return lambda: any(p.name not in seen for p in marks.glob(f"{prefix}-*"))

    def new_container(session: str | None) -> Callable[[], bool]:
        seen = {c.short_id for c in list_managed(session=session)} if session else set()
        return lambda: any(
            c.short_id not in seen
            for c in list_managed()
            if c.session and (session is None or c.session == session)
        )

    def stored_grows() -> Callable[[], bool]:
        before = stored(db)
        return lambda: stored(db) > before

    session: str | None = None
    moments: list[tuple[str, Callable[[str | None], Callable[[], bool]]]] = [
        ("containers start", new_container),
        ("the seed runs", lambda _: new_mark("seeding")),
        ("a test runs", lambda _: new_mark("testing")),
        ("a repetition is stored", lambda _: stored_grows()),
    ]
    for moment, condition in moments:
        runner = start("--resume", session) if session else start("test_backed.py")
        if session is None:  # the session is written with its first repetition
            wait_until(lambda: stored(db) >= 1, 180, "a first repetition stored")
            session = str(query(db, "SELECT id FROM sessions")[0][0])
        wait_while_running(runner, condition(session), moment)
        runner.send_signal(signal.SIGKILL)
        runner.communicate()
        began = time.monotonic()

        # nothing of the killed campaign is left, without any prune
        try:
            wait_until(lambda: not session_processes(tag), 30, f"repetitions gone ({moment})")
        except AssertionError:
            left = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in session_processes(tag)]
            raise AssertionError(f"still running after the kill ({moment}): {left}") from None
        wait_until(partial(no_containers, str(session)), 15, f"containers ({moment})")
        wait_until(lambda: not list(tmp.glob("stability-*")), 15, f"temporary folders ({moment})")
        cleaned_s = time.monotonic() - began
        assert cleaned_s < 40, (moment, cleaned_s)
        # every stored repetition is whole: both tests, both container starts
        assert (
            query(
                db,
                "SELECT r.number FROM repetitions r WHERE "
                "(SELECT count(*) FROM executions e WHERE e.repetition = r.number) <> 2 OR "
                "(SELECT count(*) FROM container_starts c WHERE c.repetition = r.number) <> 2",
            )
            == []
        ), moment
        assert stored(db) < N, f"the campaign finished before the kill ({moment})"

    final = start("--resume", str(session), "--json")
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, out + err
    summary = json.loads(out)
    assert summary["repetitions_done"] == N
    assert query(db, "SELECT number FROM repetitions ORDER BY 1") == [(n,) for n in range(1, N + 1)]
    assert query(db, "SELECT count(*), count(DISTINCT (repetition, nodeid)) FROM executions") == [
        (2 * N, 2 * N)
    ]
    assert query(db, "SELECT count(*) FROM executions WHERE outcome <> 'passed'") == [(0,)]
    assert query(db, "SELECT status, repeat FROM sessions") == [("completed", N)]
    wait_until(lambda: list_managed(session=session) == [], 15, "containers after the end")
    # the runner's folder goes with its reaper's first sweep, just after the runner exits
    wait_until(lambda: not list(tmp.glob("stability-*")), 15, "temporary folders after the end")
