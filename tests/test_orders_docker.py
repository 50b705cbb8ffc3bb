"""An order-dependent pair through a committed PostgreSQL row: shuffled on real
containers, then `stability diagnose` replays it on fresh containers and names the
polluter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main
from stability.runner.ordering import shuffled

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DB_PAIR = """
import psycopg

def test_victim_counts_rows(pg_transaction):
    pg_transaction.execute("CREATE TABLE IF NOT EXISTS notes (body text)")
    assert pg_transaction.execute("SELECT count(*) FROM notes").fetchone() == (0,)

def test_innocent_a(pg_transaction):
    pg_transaction.execute("CREATE TABLE IF NOT EXISTS notes (body text)")
    pg_transaction.execute("INSERT INTO notes VALUES ('rolled back')")

def test_innocent_b():
    pass

def test_polluter_commits_a_row(postgres_url):
    # its own connection, committed: the rolled-back transaction cannot undo it
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (body text)")
        conn.execute("INSERT INTO notes VALUES ('left behind')")
        conn.commit()

def test_innocent_c():
    pass
"""
DECLARED = [
    "test_victim_counts_rows",
    "test_innocent_a",
    "test_innocent_b",
    "test_polluter_commits_a_row",
    "test_innocent_c",
]
REPEAT = 4


def _base_seed() -> int:
    """The first seed S whose REPEAT orders (S, S+1, ...) put the polluter both before
    and after the victim, so the campaign sees the victim pass and fail."""
    for seed in range(1000):
        before = {
            (o := shuffled(DECLARED, seed + i)).index("test_polluter_commits_a_row")
            < o.index("test_victim_counts_rows")
            for i in range(REPEAT)
        }
        if before == {True, False}:
            return seed
    raise AssertionError("no seed")


def test_committed_row_pair_is_found_and_diagnosed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a busy shared machine can be slow to start PostgreSQL: that is not what is tested
    monkeypatch.setenv("STABILITY_POSTGRES_TIMEOUT", "120")
    (project / "test_db_pair.py").write_text(DB_PAIR)
    seed = _base_seed()
    result = invoke(
        "test_db_pair.py", "--repeat", str(REPEAT), "--seed", str(seed), "--jobs", "2",
        "--json", "-q",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["flaky_tests"] == ["test_db_pair.py::test_victim_counts_rows"]

    diagnosed = CliRunner().invoke(
        main, ["diagnose", "test_victim_counts_rows", "--json", "--max-probes", "10"]
    )
    assert diagnosed.exit_code == 0, diagnosed.output
    d = json.loads(diagnosed.stdout)
    assert d["verdict"] == "polluted"
    assert d["polluters"] == ["test_db_pair.py::test_polluter_commits_a_row"]
    assert "probe 1/10: 0 test(s) before the victim: it passed" in diagnosed.stderr

    report = CliRunner().invoke(
        main, ["report", "--session", summary["session"], "--format", "json", "--out", "out"]
    )
    assert report.exit_code == 0, report.output
    tests = {
        t["nodeid"]: t for t in json.loads((project / "out" / "report.json").read_text())["tests"]
    }
    victim = tests["test_db_pair.py::test_victim_counts_rows"]
    assert victim["cause"] == "order-dependent"
    assert victim["polluters"] == ["test_db_pair.py::test_polluter_commits_a_row"]
    assert tests["test_db_pair.py::test_innocent_a"]["cause"] is None
    # the leftover check named the polluter before any diagnosis (diagnose tries it first)
    polluter = tests["test_db_pair.py::test_polluter_commits_a_row"]["leftovers"]
    assert polluter is not None and "public.notes +1 inserted" in polluter["description"]
    assert {n for n, t in tests.items() if t["leftovers"]} == {
        "test_db_pair.py::test_polluter_commits_a_row"
    }
