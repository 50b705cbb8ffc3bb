"""Containers the tests start themselves (testcontainers, the Docker SDK) under `stability run`:
seen, timed, blamed as infrastructure when they fail, removed when a repetition is killed.

Real containers and real `stability run` repetitions throughout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import duckdb
import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main
from stability.containers import labels

pytestmark = pytest.mark.docker

# A module fixture starts PostgreSQL with testcontainers; the test writes down the labels
# its container carries, as the engine reports them.
OWN_POSTGRES = """
import json, os
from pathlib import Path
import psycopg, pytest
from testcontainers.postgres import PostgresContainer

OUT = Path(__file__).parent / "out"

@pytest.fixture(scope="module")
def pg():
    with PostgresContainer(os.environ["STABILITY_POSTGRES_IMAGE"], driver=None) as c:
        yield c

def test_query(pg):
    OUT.mkdir(exist_ok=True)
    rep = os.environ["STABILITY_REPETITION"]
    (OUT / f"labels-{rep}.json").write_text(json.dumps(pg.get_wrapped_container().labels))
    with psycopg.connect(pg.get_connection_url()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

def test_port(pg):
    assert int(pg.get_exposed_port(5432)) > 0
"""

# Redis started in the test body with the plain Docker SDK.
SDK_REDIS = """
import os, time
import docker, redis

def start_redis():
    client = docker.from_env()
    c = client.containers.run(
        os.environ["STABILITY_REDIS_IMAGE"], detach=True, ports={"6379/tcp": None}
    )
    c.reload()
    r = redis.Redis(port=int(c.ports["6379/tcp"][0]["HostPort"]), socket_timeout=2)
    for _ in range(200):
        try:
            r.ping()
            return c, r
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("redis did not answer")

def test_redis_sdk():
    c, r = start_redis()
    try:
        assert r.set("k", "v")
    finally:
        c.remove(force=True)
"""


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def left_behind(session: str) -> list[str]:
    found = docker.from_env().containers.list(
        all=True, filters={"label": f"{labels.SESSION}={session}"}
    )
    return [c.short_id for c in found]


def test_their_starts_are_labelled_timed_and_reported(project: Path) -> None:
    (project / "test_own_pg.py").write_text(OWN_POSTGRES)
    (project / "test_sdk_redis.py").write_text(SDK_REDIS)
    result = invoke(".", "--repeat", "2", "--jobs", "2", "--json", "-q", "--", "-p", "no:randomly")
    assert result.exit_code == 0, result.output + result.stderr
    session = json.loads(result.stdout)["session"]
    db = project / ".stability" / "history.duckdb"

    # each repetition's containers carried that repetition's labels on the engine
    for rep in ("1", "2"):
        seen = json.loads((project / "out" / f"labels-{rep}.json").read_text())
        assert seen[labels.SESSION] == session and seen[labels.REPETITION] == rep
        assert seen[labels.MANAGED] == "true" and seen[labels.OWNER_PID].isdigit()
        assert "org.testcontainers.session-id" in seen  # testcontainers' own labels kept

    starts = query(
        db,
        "SELECT repetition, service, image, origin, ok, nodeid, ready_s, running_s, "
        "ended_at IS NOT NULL, died, container_id FROM container_starts ORDER BY 1, 2",
    )
    assert [s[:6] for s in starts] == [
        (1, "postgres", os.environ["STABILITY_POSTGRES_IMAGE"], "tests", True,
         "test_own_pg.py::test_query"),
        (1, "redis", os.environ["STABILITY_REDIS_IMAGE"], "tests", True,
         "test_sdk_redis.py::test_redis_sdk"),
        (2, "postgres", os.environ["STABILITY_POSTGRES_IMAGE"], "tests", True,
         "test_own_pg.py::test_query"),
        (2, "redis", os.environ["STABILITY_REDIS_IMAGE"], "tests", True,
         "test_sdk_redis.py::test_redis_sdk"),
    ]  # fmt: skip
    for *_, ready_s, running_s, ended, died, container_id in starts:
        # running before ready: testcontainers' wait (psql answering) comes after
        assert 0 < running_s <= ready_s and ended and not died and len(container_id) == 64

    # the time spent starting them is counted apart from the tests' own time
    timing = query(
        db,
        "SELECT nodeid, setup_s, setup_container_s, call_s, call_container_s "
        "FROM executions WHERE repetition = 1 ORDER BY nodeid",
    )
    (pg_port, pg_query, sdk) = timing
    assert pg_port[2] is None  # the module's container was up already
    assert pg_query[2] > 0.5 and pg_query[2] <= pg_query[1]  # the fixture's start, in set-up
    assert sdk[4] > 0 and sdk[4] < sdk[3]  # the test body's start, in its call

    report = CliRunner().invoke(
        main, ["report", "--format", "json", "--out", str(project / "r")], catch_exceptions=False
    )
    assert report.exit_code == 0, report.stderr
    data = json.loads((project / "r" / "report.json").read_text())
    by_image = {c["service"]: c for c in data["suite"]["containers"]}
    for image in (os.environ["STABILITY_POSTGRES_IMAGE"], os.environ["STABILITY_REDIS_IMAGE"]):
        entry = by_image[image]
        assert (entry["origin"], entry["starts"], entry["failed"]) == ("tests", 2, 0)
        assert 0 < entry["p50_s"] <= entry["p95_s"]
    tests = {t["nodeid"]: t for t in data["tests"]}
    redis_test = tests["test_sdk_redis.py::test_redis_sdk"]
    # p95 is the test's own time; the measured one (with the start) is kept beside it
    assert redis_test["p95_s"] < redis_test["p95_with_containers_s"]
    assert tests["test_own_pg.py::test_query"]["container_s"] > 1.0
    assert left_behind(session) == []


MISSING_IMAGES = """
import docker, pytest
from testcontainers.core.container import DockerContainer

@pytest.fixture(scope="module")
def service():
    with DockerContainer("pytest-stability/not-there:never") as c:
        yield c

def test_uses_it(service):
    pass

def test_uses_it_too(service):  # the fixture's cached error, raised again
    pass

def test_sdk_run_of_a_missing_image():
    docker.from_env().containers.run("pytest-stability/not-there-either:never", detach=True)

def test_expects_the_failure():  # asks for it, so it passes: not a failure at all
    with pytest.raises(docker.errors.DockerException):
        docker.from_env().containers.run("pytest-stability/not-there:never", detach=True)

def test_fine():
    pass
"""


def test_a_start_failure_is_infrastructure(project: Path) -> None:
    (project / "test_missing.py").write_text(MISSING_IMAGES)
    result = invoke("test_missing.py", "--repeat", "1", "--json", "-q", "--", "-p", "no:randomly")
    db = project / ".stability" / "history.duckdb"
    assert result.exit_code == 3, result.output + result.stderr  # infrastructure, not tests
    assert query(db, "SELECT status FROM repetitions") == [("infra",)]
    assert query(db, "SELECT nodeid, outcome, infra FROM executions ORDER BY nodeid") == [
        ("test_missing.py::test_expects_the_failure", "passed", False),
        ("test_missing.py::test_fine", "passed", False),
        ("test_missing.py::test_sdk_run_of_a_missing_image", "failed", True),
        ("test_missing.py::test_uses_it", "error", True),
        ("test_missing.py::test_uses_it_too", "error", True),
    ]
    starts = query(db, "SELECT image, origin, ok, error FROM container_starts ORDER BY nodeid")
    assert [s[:3] for s in starts] == [
        ("pytest-stability/not-there:never", "tests", False),
        ("pytest-stability/not-there-either:never", "tests", False),
        ("pytest-stability/not-there:never", "tests", False),
    ]
    assert all(s[3] for s in starts)  # the engine's reason is kept


KILLED_MID_TEST = """
import os, subprocess
import redis, pytest
from test_sdk_redis import start_redis

def test_own_container_killed():
    c, r = start_redis()
    subprocess.run(["docker", "kill", c.id], check=True, capture_output=True)
    try:
        r.set("k", "v")  # the connection is gone with the container
    finally:
        c.remove(force=True)

def test_our_fixture_container_killed(redis_container, redis_client):
    redis_client.set("k", "v")
    subprocess.run(["docker", "kill", redis_container.get_wrapped_container().id], check=True)
    redis_client.get("k")

def test_kills_its_own_container_on_purpose():
    c, r = start_redis()
    c.kill()  # asked for: not a death
    c.remove(force=True)
    with pytest.raises(redis.ConnectionError):
        r.set("k", "v")
"""


def test_a_container_killed_mid_test_is_infrastructure(project: Path) -> None:
    (project / "test_sdk_redis.py").write_text(SDK_REDIS.replace("def test_", "def _unused_"))
    (project / "test_killed.py").write_text(KILLED_MID_TEST)
    result = invoke("test_killed.py", "--repeat", "1", "--json", "-q", "--", "-p", "no:randomly")
    db = project / ".stability" / "history.duckdb"
    assert result.exit_code == 3, result.output + result.stderr
    assert query(db, "SELECT nodeid, outcome, infra FROM executions ORDER BY nodeid") == [
        ("test_killed.py::test_kills_its_own_container_on_purpose", "passed", False),
        ("test_killed.py::test_our_fixture_container_killed", "failed", True),
        ("test_killed.py::test_own_container_killed", "failed", True),
    ]
    died = query(
        db,
        "SELECT origin, nodeid, died, exit_code FROM container_starts ORDER BY origin, nodeid",
    )
    assert died == [
        ("stability", None, True, 137),  # our fixture's redis: killed
        ("tests", "test_killed.py::test_kills_its_own_container_on_purpose", False, None),
        ("tests", "test_killed.py::test_own_container_killed", True, 137),
    ]


HANGING = """
import os, time
from pathlib import Path
import pytest
from testcontainers.redis import RedisContainer
from test_sdk_redis import start_redis

@pytest.fixture
def own_redis():
    with RedisContainer(os.environ["STABILITY_REDIS_IMAGE"]) as c:
        yield c

def test_hangs(own_redis):
    start_redis()  # never removed: the test hangs
    Path(__file__).with_name("started").write_text(os.environ["STABILITY_SESSION_ID"])
    time.sleep(300)
"""


@pytest.mark.slow
def test_timeout_and_a_killed_runner_leave_none_of_them(project: Path) -> None:
    (project / "test_sdk_redis.py").write_text(SDK_REDIS)
    (project / "test_hangs.py").write_text(HANGING)

    timed_out = invoke("test_hangs.py", "--repeat", "1", "--timeout", "30", "--json", "-q")
    assert timed_out.exit_code == 1, timed_out.output + timed_out.stderr
    assert (project / "started").exists()  # both were up when the time-out struck
    assert left_behind(json.loads(timed_out.stdout)["session"]) == []

    (project / "started").unlink()
    runner = subprocess.Popen(
        [sys.executable, "-c", "from stability.cli import main; main()", "run", "test_hangs.py",
         "--repeat", "1", "--db", "killed.duckdb"],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not (project / "started").exists():
        assert time.monotonic() < deadline and runner.poll() is None, "the test never started"
        time.sleep(0.2)
    session = (project / "started").read_text()
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    killed_at = time.monotonic()
    while left_behind(session):
        assert time.monotonic() - killed_at < 15, f"still there: {left_behind(session)}"
        time.sleep(0.5)
