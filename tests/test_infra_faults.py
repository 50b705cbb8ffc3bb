"""Containers failing while a campaign runs: real containers killed, stopped, OOM-killed.

Each fault lands in repetition 1 only; repetition 2 runs clean. The faulty repetition
must be `infra` with its reason, no test may come out flaky from it, and `check` passes.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main
from stability.containers.cleanup import list_managed, prune_containers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HELPERS = """
import os, threading, time
import docker

FAULTY = os.environ["STABILITY_REPETITION"] == "1"

def kill_soon(container, delay=0.0, signal="SIGKILL"):
    cid = container.get_wrapped_container().id
    def run():
        time.sleep(delay)
        docker.from_env().containers.get(cid).kill(signal=signal)
    thread = threading.Thread(target=run)
    thread.start()
    return thread
"""

PG_KILLED_MID_TEST = """
from faults import FAULTY, kill_soon

def test_a_before(pg_transaction):
    assert pg_transaction.execute("SELECT 1").fetchone() == (1,)

def test_b_holds_a_connection(postgres_container, pg_transaction):
    if FAULTY:
        kill_soon(postgres_container, delay=1.0)
    pg_transaction.execute("SELECT pg_sleep(2.5)")

def test_c_after(pg_transaction):
    assert pg_transaction.execute("SELECT 2").fetchone() == (2,)

def test_d_no_database():
    assert True
"""

REDIS_KILLED_BETWEEN_TESTS = """
from faults import FAULTY, kill_soon

def test_a_uses_redis(redis_client, redis_container):
    redis_client.set("k", "v")
    assert redis_client.get("k") == "v"
    if FAULTY:  # once this test is over, redis is gone
        {fault}

def test_b_uses_redis(redis_client):
    assert redis_client.ping()
"""

PG_STOPPED_AFTER_THE_TESTS = """
import pytest
from faults import FAULTY

@pytest.fixture(scope="session", autouse=True)
def stop_postgres_at_the_end(postgres_container):
    yield
    if FAULTY:  # a clean stop (exit code 0) once every test has run
        postgres_container.get_wrapped_container().stop(timeout=10)

def test_a(pg_transaction):
    assert pg_transaction.execute("SELECT 1").fetchone() == (1,)

def test_b():
    assert True
"""

REDIS_OUT_OF_MEMORY = """
from faults import FAULTY

def test_a_fills_the_cache(redis_client, redis_container):
    if FAULTY:
        redis_container.get_wrapped_container().update(mem_limit="32m", memswap_limit="32m")
        # 100 kB values: over the limit within a few hundred writes (200 MB at most)
        script = "for i=1,2000 do redis.call('set','k'..i,string.rep('x',100000)) end"
        redis_client.eval(script, 0)
    assert redis_client.ping()

def test_b_after(redis_client):
    assert redis_client.ping()
"""


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _patient_startups(monkeypatch: pytest.MonkeyPatch) -> None:
    # a loaded shared machine can take more than the default 30 s to start PostgreSQL;
    # a start-up time-out is infra too, but not the fault these tests are about
    monkeypatch.setenv("STABILITY_POSTGRES_TIMEOUT", "120")
    monkeypatch.setenv("STABILITY_REDIS_TIMEOUT", "60")


def campaign(project: Path, source: str) -> tuple[dict[str, Any], Path]:
    """Two repetitions of `source` (the fault lands in the first); the run's summary."""
    (project / "faults.py").write_text(HELPERS)
    (project / "test_faulty.py").write_text(source)
    result = invoke("test_faulty.py", "--repeat", "2", "--json", "-q", "--", "-p", "no:randomly")
    summary = json.loads(result.stdout)
    assert list_managed(session=summary["session"]) == []
    assert summary["exit_code"] == 0, summary
    assert summary["flaky_tests"] == [] and summary["failing_tests"] == []
    return summary, project / ".stability" / "history.duckdb"


def assert_judged_as_infra(db: Path, reason: str) -> list[tuple[Any, ...]]:
    reps = query(db, "SELECT number, status, error FROM repetitions ORDER BY number")
    assert [(n, st) for n, st, _ in reps] == [(1, "infra"), (2, "passed")], reps
    assert reason in reps[0][2], reps[0][2]
    check = CliRunner().invoke(main, ["check"], catch_exceptions=False)
    assert check.exit_code == 0, check.output
    report = CliRunner().invoke(main, ["report", "--format", "json"], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    data = json.loads(Path("reports/report.json").read_text())
    assert data["suite"]["infra_repetitions"] == 1
    assert {t["status"] for t in data["tests"]} == {"stable"}
    return reps


def test_postgres_killed_in_the_middle_of_a_test(project: Path) -> None:
    _, db = campaign(project, PG_KILLED_MID_TEST)
    reps = assert_judged_as_infra(db, "postgres container exited with code 137 (killed)")
    assert "first failure it explains: test_faulty.py::test_b_holds_a_connection" in reps[0][2]
    # the tests that failed because of it are flagged; the one before it passed
    rows = query(
        db, "SELECT nodeid, outcome, infra FROM executions WHERE repetition = 1 ORDER BY nodeid"
    )
    assert rows == [
        ("test_faulty.py::test_a_before", "passed", False),
        ("test_faulty.py::test_b_holds_a_connection", "failed", True),
        ("test_faulty.py::test_c_after", "error", True),
        ("test_faulty.py::test_d_no_database", "passed", False),
    ]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("kill_soon(redis_container).join()", "redis container exited with code 137 (killed)"),
        ("redis_container.get_wrapped_container().restart(timeout=0)", "redis container restarted"),
    ],
    ids=["killed", "restarted"],
)
def test_redis_killed_or_restarted_between_two_tests(
    project: Path, fault: str, reason: str
) -> None:
    _, db = campaign(project, REDIS_KILLED_BETWEEN_TESTS.format(fault=fault))
    assert_judged_as_infra(db, reason)
    rows = query(
        db, "SELECT nodeid, outcome, infra FROM executions WHERE repetition = 1 ORDER BY 1"
    )
    # test_a's body passed; the fault it leaves may surface in its own teardown (the
    # leftover check probes Redis after each test), and then it is infra, never a failure
    assert rows[0] in [
        ("test_faulty.py::test_a_uses_redis", "passed", False),
        ("test_faulty.py::test_a_uses_redis", "error", True),
    ]
    # a killed Redis is gone for test_b; a restarted one on the host network comes back
    # on its port (empty), and test_b may find it: the repetition is infra either way
    b_outcomes = [("test_faulty.py::test_b_uses_redis", "error", True)]
    if "restart" in fault:
        b_outcomes.append(("test_faulty.py::test_b_uses_redis", "passed", False))
    assert rows[1] in b_outcomes
    assert len(rows) == 2


def test_postgres_stopped_right_after_the_tests(project: Path) -> None:
    _, db = campaign(project, PG_STOPPED_AFTER_THE_TESTS)
    assert_judged_as_infra(db, "postgres container exited with code 0")


def test_redis_out_of_memory(project: Path) -> None:
    _, db = campaign(project, REDIS_OUT_OF_MEMORY)
    assert_judged_as_infra(db, "redis container ran out of memory (OOM-killed, exit code 137)")


ENGINE_GOES_AWAY = """
import os, time
from pathlib import Path
from faults import FAULTY

def test_a(pg_transaction):
    assert pg_transaction.execute("SELECT 1").fetchone() == (1,)
    if FAULTY:  # the proxy to the engine shuts when it sees this file
        Path(os.environ["ENGINE_OFF"]).touch()
        time.sleep(1.0)

def test_b(pg_transaction):
    assert pg_transaction.execute("SELECT 2").fetchone() == (2,)
"""


class EngineProxy:
    """A unix socket in front of the real Docker engine that can go away: what a
    repetition sees when its engine dies (the real, shared engine is never touched)."""

    def __init__(self, folder: Path, engine: str = "/var/run/docker.sock") -> None:
        import socket
        import threading

        self.path, self.off = folder / "engine.sock", folder / "engine-off"
        self.engine = engine
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(64)
        self.server.settimeout(0.1)
        self.open: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket
        import threading

        while not self.off.exists():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.engine)
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
        self.server.close()
        for s in self.open:  # every connection breaks, as when the engine dies
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()
        self.closed.set()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)


def test_an_engine_that_goes_away_makes_the_repetition_infra(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = EngineProxy(project)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{proxy.path}")
    monkeypatch.setenv("ENGINE_OFF", str(proxy.off))
    (project / "faults.py").write_text(HELPERS)
    (project / "test_faulty.py").write_text(ENGINE_GOES_AWAY)
    try:
        result = invoke(
            "test_faulty.py", "--repeat", "1", "--json", "-q", "--", "-p", "no:randomly"
        )
        summary = json.loads(result.stdout)
    finally:
        proxy.off.touch()
        monkeypatch.delenv("DOCKER_HOST")
        # the containers it could not remove through the dead proxy: remove them here
        prune_containers(only_orphans=False, session=summary["session"])
    assert proxy.closed.is_set()
    assert summary["exit_code"] == 3, summary  # the one repetition was infra
    assert summary["flaky_tests"] == [] and summary["failing_tests"] == []
    db = project / ".stability" / "history.duckdb"
    [(status, error)] = query(db, "SELECT status, error FROM repetitions")
    assert status == "infra"
    assert error.startswith("the Docker engine stopped answering"), error
