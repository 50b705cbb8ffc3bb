"""Writing the history: sessions, one-transaction repetitions, resume queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from stability.exceptions import StoreError, UsageError
from stability.records import (
    ContainerLog,
    ContainerStart,
    Execution,
    Outcome,
    Repetition,
    Session,
    columns,
)
from stability.runner.campaign import session_summary
from stability.store import ingest
from stability.store.db import connect

SESSION = "20260101-000000-abcd"


def _session(**extra: Any) -> Session:
    fields: dict[str, Any] = {
        "id": SESSION,
        "started_at": datetime.now(UTC),
        "label": "nightly",
        "targets": ["tests/test_x.py"],
        "repeat": 3,
        "status": "running",
        "options": json.dumps({"jobs": 1, "pytest_args": ["-k", "x"]}),
        "git_commit": "abc",
        "git_branch": "main",
        "git_dirty": False,
        "host": "h",
        "python_version": "3.11",
        "pytest_version": "9",
        "package_version": "0.1.0",
        "cwd": "/w",
        **extra,
    }
    return Session(**fields)


def _rows(number: int, outcomes: list[Outcome], **rep: Any) -> ingest.RepetitionRows:
    fields: dict[str, Any] = {
        "session_id": SESSION,
        "number": number,
        "worker": 1,
        "started_at": datetime.now(UTC),
        "wall_s": 1.0,
        "exit_code": 0,
        "status": "passed",
        **rep,
    }
    return ingest.RepetitionRows(
        repetition=Repetition(**fields),
        executions=[
            Execution(
                nodeid=f"t.py::test_{i}",
                file="t.py",
                outcome=o,
                started_at="2026-01-01T00:00:00+00:00",
                call_s=0.1,
            )
            for i, o in enumerate(outcomes)
        ],
        container_starts=[
            ContainerStart(
                service="postgres",
                image="pg",
                ok=True,
                ready_s=1.5,
                setup_s=2.0,
                started_at="2026-01-01T00:00:00+00:00",
            )
        ],
        container_logs=[ContainerLog(service="postgres", logs="ready")],
    )


def _count(db: Path, table: str) -> int:
    with connect(db, write=False) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "h" / "history.duckdb"
    ingest.create_session(path, _session())
    return path


def test_session_round_trip(db: Path) -> None:
    stored = ingest.load_session(db, SESSION)
    assert stored.targets == ["tests/test_x.py"] and stored.repeat == 3
    assert stored.options["pytest_args"] == ["-k", "x"]
    assert stored.status == "running" and stored.label == "nightly"
    assert stored.completed == set()
    with pytest.raises(StoreError, match="already exists"):
        ingest.create_session(db, _session())
    with pytest.raises(UsageError, match="no session 'nope'"):
        ingest.load_session(db, "nope")


def test_ingest_is_counted_and_idempotent(db: Path) -> None:
    ingest.ingest_repetition(db, _rows(1, ["passed", "failed"], status="failed"))
    ingest.ingest_repetition(db, _rows(2, ["passed", "passed"]))
    ingest.ingest_repetition(db, _rows(2, ["passed", "passed"]))  # again: replaced
    assert _count(db, "repetitions") == 2
    assert _count(db, "executions") == 4
    assert _count(db, "container_starts") == 2
    assert _count(db, "container_logs") == 2
    assert ingest.load_session(db, SESSION).completed == {1, 2}
    summary = session_summary(db, SESSION)
    assert summary["repetitions"] == {"failed": 1, "passed": 1}
    assert summary["tests"] == 2 and summary["executions"] == 4
    assert summary["flaky_tests"] == ["t.py::test_1"]
    assert summary["failing_tests"] == []


def test_run_summary_counts_like_the_report(db: Path) -> None:
    """The drifted rule: a failure in an infra repetition makes no test flaky."""
    from stability.analysis.rules import status_of
    from stability.store.queries import tally_tests

    ingest.ingest_repetition(db, _rows(1, ["passed", "passed"]))
    # the repetition is infra (a container died) but its execution carries no infra flag
    ingest.ingest_repetition(db, _rows(2, ["failed", "passed"], status="infra"))
    summary = session_summary(db, SESSION)
    with connect(db, write=False) as conn:
        report_flaky = [t.nodeid for t in tally_tests(conn, [SESSION]) if status_of(t) == "flaky"]
    assert summary["flaky_tests"] == report_flaky == []
    assert summary["failing_tests"] == []


def test_store_columns_derive_from_the_records(db: Path) -> None:
    """The tables hold every field of every record (a new field needs its column)."""
    with connect(db, write=False) as conn:
        for table, record in [
            ("sessions", Session),
            ("repetitions", Repetition),
            ("executions", Execution),
            ("container_starts", ContainerStart),
            ("container_logs", ContainerLog),
        ]:
            stored = {row[0] for row in conn.execute(f"DESCRIBE {table}").fetchall()}
            keyed = table not in ("sessions", "repetitions")
            assert set(columns(record, keyed=keyed)) <= stored, table


def test_a_failing_ingest_leaves_nothing(db: Path) -> None:
    rows = _rows(1, ["passed", "passed"])
    rows.container_starts[0].ok = None  # type: ignore[assignment]  # NOT NULL: insert fails
    with pytest.raises(duckdb.ConstraintException):
        ingest.ingest_repetition(db, rows)
    assert _count(db, "repetitions") == 0
    assert _count(db, "executions") == 0


def test_many_executions_in_one_repetition(db: Path) -> None:
    ingest.ingest_repetition(db, _rows(1, ["passed"] * 1234))
    assert _count(db, "executions") == 1234


def test_reopen_and_finish(db: Path) -> None:
    ingest.finish_session(db, SESSION, "interrupted")
    ingest.reopen_session(db, SESSION, 10, {"jobs": 2})
    with connect(db, write=False) as conn:
        assert conn.execute("SELECT status, repeat, finished_at FROM sessions").fetchone() == (
            "running",
            10,
            None,
        )
    ingest.finish_session(db, SESSION, "completed")
    with connect(db, write=False) as conn:
        row = conn.execute("SELECT status, finished_at IS NOT NULL FROM sessions").fetchone()
    assert row == ("completed", True)


def test_readers_can_open_between_writes(db: Path) -> None:
    ingest.ingest_repetition(db, _rows(1, ["passed"]))
    # the writer has let go: another read-only connection opens at once
    conn = duckdb.connect(str(db), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM executions").fetchone() == (1,)
    finally:
        conn.close()


def test_several_repetitions_are_written_in_one_go(db: Path) -> None:
    ingest.ingest_repetitions(db, [_rows(1, ["passed"]), _rows(2, ["failed"], status="failed")])
    assert _count(db, "repetitions") == 2
    assert _count(db, "executions") == 2
