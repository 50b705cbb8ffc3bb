"""The leftover check against real PostgreSQL and Redis containers, in real pytest runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main

pytestmark = pytest.mark.docker

MIGRATION = """
CREATE TABLE items (name text PRIMARY KEY);
CREATE TABLE orders (id bigserial PRIMARY KEY, item text);
CREATE SEQUENCE tickets;
INSERT INTO items VALUES ('seeded-1'), ('seeded-2'), ('seeded-3');
"""

# The four polluters, then the controls: none of the controls may be named.
POLLUTERS = """
import psycopg, redis

def test_commits_through_postgres_url(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO items VALUES ('left behind')")

def test_creates_a_table(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE scratch (x int)")

def test_advances_a_sequence(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT nextval('tickets')")

def test_writes_redis_through_redis_url(redis_url):
    redis.Redis.from_url(redis_url).set("cart:7", "3")

def test_control_pg_transaction(pg_transaction):
    # writes rows and draws from a sequence: the rollback covers the rows, and a
    # sequence is never rolled back by PostgreSQL, so neither counts
    pg_transaction.execute("INSERT INTO orders (item) VALUES ('rolled back')")
    pg_transaction.execute("UPDATE items SET name = 'x' WHERE name = 'seeded-1'")

def test_control_redis_client(redis_client):
    redis_client.set("session:1", "v")
    redis_client.hset("basket", "mug", 2)

def test_control_reads_only(postgres_url, redis_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] >= 3
    client = redis.Redis.from_url(redis_url)
    client.get("cart:7")
    list(client.scan_iter())
"""

# Harder cases: a write beside pg_transaction, a thread writing after its test ended,
# updates and deletes.
SUBTLE = """
import threading, time
import psycopg, pytest, redis

@pytest.fixture
def writes_at_setup(postgres_url, redis_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO items VALUES ('at setup')")
    redis.Redis.from_url(redis_url).set("at-setup", "1")

def test_clean_before_a_setup_that_writes(pg_transaction):
    pg_transaction.execute("SELECT count(*) FROM items")

def test_writes_in_its_fixture_setup(writes_at_setup):
    pass

def test_writes_beside_its_pg_transaction(pg_transaction, postgres_url):
    pg_transaction.execute("INSERT INTO items VALUES ('rolled back')")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO items VALUES ('committed aside')")

def test_updates_and_deletes(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE items SET name = 'renamed' WHERE name = 'seeded-2'")
        conn.execute("DELETE FROM items WHERE name = 'seeded-3'")

def test_leaves_a_thread_writing(postgres_url):
    def send():
        time.sleep(0.3)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("INSERT INTO items VALUES ('written late')")
    threading.Thread(target=send, name="mailer", daemon=True).start()

def test_victim_running_while_the_thread_writes(pg_transaction):
    # draws from a sequence inside its transaction while the thread is alive: that is
    # neither its leftover nor the thread's
    pg_transaction.execute("INSERT INTO orders (item) VALUES ('rolled back')")
    time.sleep(1.0)
"""

# What the check reads less of: the sequences between two tests in pg_transaction (they
# draw from them as a matter of course), and a Redis no test asked for (unless it
# notified a change). The tests after them are still exact.
SKIPPED = """
import psycopg, redis

CLIENT = {}

def test_keeps_a_redis_client(redis_url):
    CLIENT["redis"] = redis.Redis.from_url(redis_url)

def test_draws_in_its_transaction(pg_transaction):
    pg_transaction.execute("SELECT nextval('tickets'), nextval('tickets')")

def test_draws_in_its_transaction_too(pg_transaction):
    pg_transaction.execute("INSERT INTO orders (item) VALUES ('rolled back')")

def test_advances_a_sequence_after_them(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT nextval('tickets')")

def test_writes_redis_with_a_client_kept_from_earlier(postgres_url):
    CLIENT["redis"].set("stray", "1")
"""

EXPECTED = {
    "test_polluters.py::test_commits_through_postgres_url": "rows: public.items +1 inserted",
    "test_polluters.py::test_creates_a_table": "created: table public.scratch",
    "test_polluters.py::test_advances_a_sequence": "sequences advanced: public.tickets +1",
    "test_polluters.py::test_writes_redis_through_redis_url": (
        "redis keys: 1 added (e.g. db0:cart:7)"
    ),
    "test_subtle.py::test_writes_beside_its_pg_transaction": (
        "rows: public.items +1 inserted [written outside its pg_transaction: "
        "the rollback did not cover it]"
    ),
    "test_subtle.py::test_updates_and_deletes": "rows: public.items ~1 updated -1 deleted",
    # the check reads a test's window when the next starts: still before it writes
    "test_subtle.py::test_writes_in_its_fixture_setup": (
        "rows: public.items +1 inserted; redis keys: 1 added (e.g. db0:at-setup)"
    ),
    "test_skipped.py::test_advances_a_sequence_after_them": (
        "sequences advanced: public.tickets +1"
    ),
    "test_skipped.py::test_writes_redis_with_a_client_kept_from_earlier": (
        "redis keys: 1 added (e.g. db0:stray)"
    ),
    "test_subtle.py::test_leaves_a_thread_writing": (
        "rows: public.items +1 inserted; threads still running: mailer "
        "[partly after the test ended]"
    ),
}


def _project(folder: Path) -> None:
    (folder / "migrations").mkdir()
    (folder / "migrations" / "001.sql").write_text(MIGRATION)
    (folder / "pyproject.toml").write_text('[tool.stability]\nmigrations = "migrations"\n')
    (folder / "test_polluters.py").write_text(POLLUTERS)
    (folder / "test_subtle.py").write_text(SUBTLE)
    (folder / "test_skipped.py").write_text(SKIPPED)


def _summary(lines: list[str]) -> dict[str, str]:
    start = next(i for i, line in enumerate(lines) if "tests that left state behind" in line)
    found = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        match = re.match(r"^(test_\w+\.py::\w+): (.*)$", line)
        if not match:
            break
        found[match[1]] = match[2]
    return found


def test_names_exactly_the_tests_that_left_state_behind(pytester: pytest.Pytester) -> None:
    _project(pytester.path)
    result = pytester.runpytest_subprocess("--stability-leftovers", "-p", "no:randomly")
    result.assert_outcomes(passed=18)
    assert _summary(result.outlines) == EXPECTED
    assert "leftover check: postgres by row counts" not in result.stdout.str()  # decoded


def test_a_server_without_logical_decoding_gets_the_same_answers_by_counting(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester.path)
    # No snapshot image of its own: one per set of server flags would replace the other.
    (pytester.path / "pyproject.toml").write_text(
        '[tool.stability]\nmigrations = "migrations"\nsnapshot = false\n'
    )
    # As a user's image or configuration that does not take our server flags.
    pytester.makeconftest(
        "import stability.containers.launch as launch\nlaunch.POSTGRES_SERVER_FLAGS = ()\n"
    )
    result = pytester.runpytest_subprocess("--stability-leftovers", "-p", "no:randomly")
    result.assert_outcomes(passed=18)
    assert _summary(result.outlines) == EXPECTED
    result.stdout.fnmatch_lines(
        [
            "leftover check: postgres by row counts: the server's wal_level is replica, "
            "not logical (a test that commits costs a count of every table)"
        ]
    )


def test_off_in_a_plain_pytest_run_unless_asked(pytester: pytest.Pytester) -> None:
    _project(pytester.path)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "test_polluters.py")
    result.assert_outcomes(passed=7)
    assert "left state behind" not in result.stdout.str()


def test_stability_run_stores_and_reports_leftovers(project: Path) -> None:
    _project(project)
    result = invoke(".", "--repeat", "1", "-q", "--", "-p", "no:randomly")
    assert result.exit_code == 0, result.output + result.stderr
    db = project / ".stability" / "history.duckdb"
    conn = duckdb.connect(str(db), read_only=True)
    try:
        stored = dict(conn.execute("SELECT nodeid, leftovers FROM executions").fetchall())
    finally:
        conn.close()
    assert {n for n, v in stored.items() if v is not None} == set(EXPECTED)
    thread = json.loads(stored["test_subtle.py::test_leaves_a_thread_writing"])
    assert thread == {
        "late": True,
        "postgres": {"rows": {"public.items": {"deleted": 0, "inserted": 1, "updated": 0}}},
        "threads": ["mailer"],
    }

    runner = CliRunner()
    out = project / "reports"
    done = runner.invoke(main, ["report", "--format", "json", "--out", str(out)])
    assert done.exit_code == 0, done.output
    tests = {t["nodeid"]: t for t in json.loads((out / "report.json").read_text())["tests"]}
    assert {n for n, t in tests.items() if t["leftovers"]} == set(EXPECTED)
    bypass = tests["test_subtle.py::test_writes_beside_its_pg_transaction"]["leftovers"]
    assert bypass["bypassed_transaction"] is True
    assert bypass["executions"] == 1 and bypass["of"] == 1
    for nodeid, text in EXPECTED.items():
        assert tests[nodeid]["leftovers"]["description"] == text

    shown = runner.invoke(main, ["show", "test_creates_a_table"])
    assert "Leaves state behind in 1 of 1 executions" in shown.output
    assert "created: table public.scratch" in shown.output


def test_repetitions_on_containers_started_ahead_name_the_same_tests(project: Path) -> None:
    """From the second repetition on, the containers come from the runner's pool and the
    check opens its probes while pytest collects: the same four are named every time."""
    _project(project)
    (project / "test_subtle.py").unlink()
    (project / "test_skipped.py").unlink()
    result = invoke("test_polluters.py", "--repeat", "3", "-q", "--", "-p", "no:randomly")
    assert result.exit_code == 0, result.output + result.stderr
    conn = duckdb.connect(str(project / ".stability" / "history.duckdb"), read_only=True)
    try:
        pooled = conn.execute(
            "SELECT DISTINCT repetition FROM container_starts WHERE pooled"
        ).fetchall()
        named = conn.execute(
            "SELECT repetition, list(nodeid ORDER BY nodeid) FROM executions "
            "WHERE leftovers IS NOT NULL GROUP BY repetition ORDER BY repetition"
        ).fetchall()
    finally:
        conn.close()
    assert pooled  # else this tests nothing new
    polluters = sorted(n for n in EXPECTED if n.startswith("test_polluters.py"))
    assert named == [(r, polluters) for r in (1, 2, 3)]


IN_PROCESS = """
import psycopg

def test_inserts_a_row_each_time(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO orders (item) VALUES ('again')")

def test_control(pg_transaction):
    pg_transaction.execute("INSERT INTO orders (item) VALUES ('rolled back')")
"""


def test_each_run_of_a_test_in_its_process_gets_what_that_run_left(project: Path) -> None:
    """--in-process 2: both runs of the polluter left a row, each on its own execution."""
    _project(project)
    (project / "test_in_process.py").write_text(IN_PROCESS)
    result = invoke("test_in_process.py", "--repeat", "1", "--in-process", "2", "-q")
    assert result.exit_code == 0, result.output + result.stderr
    with duckdb.connect(str(project / ".stability" / "history.duckdb"), read_only=True) as conn:
        found = conn.execute(
            "SELECT nodeid, attempt, leftovers FROM executions ORDER BY nodeid, attempt"
        ).fetchall()
    polluter = "test_in_process.py::test_inserts_a_row_each_time"
    assert [(n, a) for n, a, left in found if left] == [(polluter, 1), (polluter, 2)]
    for _, _, left in found[2:]:
        assert json.loads(left)["postgres"]["rows"] == {
            "public.orders": {"inserted": 1, "updated": 0, "deleted": 0}
        }
