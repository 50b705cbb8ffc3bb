"""`stability run` on a container-backed target: real PostgreSQL and Redis containers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main
from stability.containers.cleanup import list_managed

pytestmark = pytest.mark.docker

BACKED = """
import os, time
from pathlib import Path
import psycopg, redis

REP = os.environ["STABILITY_REPETITION"]
OUT = Path(__file__).parent / "ports"

def test_postgres(postgres_service, pg_transaction):
    OUT.mkdir(exist_ok=True)
    (OUT / f"{{REP}}-postgres").write_text(str(postgres_service.port))
    assert pg_transaction.execute("SELECT 1").fetchone() == (1,)
    time.sleep({sleep})

def test_redis(redis_client):
    assert redis_client.ping()
    {hang}
"""


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_two_jobs_each_on_their_own_containers(project: Path) -> None:
    (project / "test_backed.py").write_text(BACKED.format(sleep=1.5, hang="pass"))
    result = invoke(
        "test_backed.py", "--repeat", "2", "--jobs", "2", "--json", "-q", "--", "-p", "no:randomly"
    )
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout)
    db = project / ".stability" / "history.duckdb"
    assert query(db, "SELECT count(*), count(DISTINCT worker) FROM repetitions") == [(2, 2)]
    assert query(db, "SELECT count(*) FROM executions WHERE outcome = 'passed'") == [(4,)]
    starts = query(
        db, "SELECT repetition, service, ok, ready_s > 0, image FROM container_starts ORDER BY 1, 2"
    )
    assert [s[:4] for s in starts] == [
        (1, "postgres", True, True),
        (1, "redis", True, True),
        (2, "postgres", True, True),
        (2, "redis", True, True),
    ]
    # the two repetitions overlapped, so their databases were on different ports
    ports = {(project / "ports" / f"{n}-postgres").read_text() for n in (1, 2)}
    assert len(ports) == 2
    assert list_managed(session=summary["session"]) == []


@pytest.mark.slow
def test_timeout_removes_the_repetitions_containers(project: Path) -> None:
    (project / "test_backed.py").write_text(BACKED.format(sleep=0, hang="time.sleep(300)"))
    result = invoke(
        "test_backed.py",
        "--repeat",
        "1",
        "--timeout",
        "10",
        "--json",
        "-q",
        "--",
        "-p",
        "no:randomly",
    )
    assert result.exit_code == 1, result.output + result.stderr
    summary = json.loads(result.stdout)
    db = project / ".stability" / "history.duckdb"
    assert query(db, "SELECT status FROM repetitions") == [("timeout",)]
    assert query(db, "SELECT nodeid, outcome FROM executions ORDER BY 1") == [
        ("test_backed.py::test_postgres", "passed"),
        ("test_backed.py::test_redis", "timeout"),
    ]
    assert query(db, "SELECT service, ok FROM container_starts ORDER BY 1") == [
        ("postgres", True),
        ("redis", True),
    ]
    # the killed pytest could not stop its containers: the runner removed them
    assert list_managed(session=summary["session"]) == []


def test_failing_test_keeps_container_logs(project: Path) -> None:
    (project / "test_fails.py").write_text(
        "def test_pg(postgres_url):\n    assert False, 'after using postgres'\n"
    )
    result = invoke("test_fails.py", "--repeat", "1", "--json", "-q")
    assert result.exit_code == 1
    db = project / ".stability" / "history.duckdb"
    ((service, has_logs),) = query(db, "SELECT service, length(logs) > 0 FROM container_logs")
    assert service == "postgres" and has_logs
    session = json.loads(result.stdout)["session"]
    assert list_managed(session=session) == []


def test_logs_command_prints_the_kept_logs(project: Path) -> None:
    (project / "test_fails_once.py").write_text(
        "import os\n\n"
        "def test_pg(postgres_url):\n"
        "    assert os.environ['STABILITY_REPETITION'] != '2', 'fails in repetition 2'\n"
    )
    result = invoke("test_fails_once.py", "--repeat", "2", "--json", "-q")
    assert result.exit_code == 1
    session = json.loads(result.stdout)["session"]
    runner = CliRunner()

    kept = runner.invoke(main, ["logs", session[:15], "2"], catch_exceptions=False)
    assert kept.exit_code == 0, kept.stderr
    assert kept.stdout.startswith(f"==> postgres (session {session}, repetition 2) <==\n")
    assert "database system is ready to accept connections" in kept.stdout

    as_json = runner.invoke(main, ["logs", session, "2", "--json"], catch_exceptions=False)
    [entry] = json.loads(as_json.stdout)["logs"]
    assert entry["service"] == "postgres" and "PostgreSQL" in entry["logs"]

    passed = runner.invoke(main, ["logs", session, "1"], catch_exceptions=False)
    assert passed.exit_code == 2
    assert passed.stderr == (
        f"stability: error: no container logs kept for session {session} repetition 1: "
        "logs are kept only for repetitions in which a test failed\n"
    )
