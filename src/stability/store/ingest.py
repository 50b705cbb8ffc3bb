"""Writing the history: the runner's side of the store.

Every function opens the file for its one write and closes it again, so readers
(`stability report`) can open it between repetitions. A repetition with all its rows is
one transaction: after a crash it is either wholly there or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from stability.analysis.models import FAILING_OUTCOMES
from stability.exceptions import StoreError, UsageError
from stability.store.db import connect

_CHUNK = 200  # rows per multi-row INSERT (executemany is ~1 ms a row in DuckDB)

SESSION_COLUMNS = (
    "id",
    "started_at",
    "finished_at",
    "label",
    "targets",
    "repeat",
    "options",
    "status",
    "git_commit",
    "git_branch",
    "git_dirty",
    "host",
    "python_version",
    "pytest_version",
    "package_version",
    "cwd",
)
REPETITION_COLUMNS = (
    "session_id",
    "number",
    "worker",
    "started_at",
    "wall_s",
    "exit_code",
    "status",
    "error",
)
EXECUTION_COLUMNS = (
    "session_id",
    "repetition",
    "nodeid",
    "file",
    "outcome",
    "phase",
    "setup_s",
    "call_s",
    "teardown_s",
    "started_at",
    "error_type",
    "message",
    "traceback",
    "failure_signature",
    "captured_output",
    "infra",
)
CONTAINER_START_COLUMNS = (
    "session_id",
    "repetition",
    "service",
    "image",
    "started_at",
    "ready_s",
    "setup_s",
    "ok",
    "error",
)
CONTAINER_LOG_COLUMNS = ("session_id", "repetition", "service", "logs")


@dataclass
class StoredSession:
    id: str
    targets: list[str]
    repeat: int
    options: dict[str, Any]
    status: str | None
    label: str | None
    completed: set[int] = field(default_factory=set)
    not_passed: set[int] = field(default_factory=set)


@dataclass
class RepetitionRows:
    """Everything one repetition adds to the history."""

    repetition: dict[str, Any]
    executions: list[dict[str, Any]] = field(default_factory=list)
    container_starts: list[dict[str, Any]] = field(default_factory=list)
    container_logs: list[dict[str, Any]] = field(default_factory=list)


def create_session(path: Path, session: Mapping[str, Any]) -> None:
    row = dict(session)
    row["options"] = json.dumps(row.get("options") or {}, default=str)
    with connect(path, write=True) as conn:
        try:
            _insert(conn, "sessions", SESSION_COLUMNS, [row])
        except duckdb.ConstraintException:
            raise StoreError(f"session {row['id']} already exists in {path}") from None


def load_session(path: Path, session_id: str) -> StoredSession:
    """A session to resume, with the numbers of its completed repetitions."""
    with connect(path, write=False) as conn:
        found = conn.execute(
            "SELECT id, targets, repeat, options, status, label FROM sessions WHERE id = ?",
            [session_id],
        ).fetchone()
        if found is None:
            raise UsageError(f"no session {session_id!r} in {path}")
        numbers = conn.execute(
            "SELECT number, status FROM repetitions WHERE session_id = ?", [session_id]
        ).fetchall()
    options = json.loads(found[3]) if found[3] else {}
    return StoredSession(
        id=found[0],
        targets=list(found[1]),
        repeat=int(found[2]),
        options=options,
        status=found[4],
        label=found[5],
        completed={int(n) for n, _ in numbers},
        not_passed={int(n) for n, status in numbers if status != "passed"},
    )


def reopen_session(path: Path, session_id: str, repeat: int, options: Mapping[str, Any]) -> None:
    """Mark a resumed session running again (with its possibly raised N)."""
    with connect(path, write=True) as conn:
        conn.execute(
            "UPDATE sessions SET status = 'running', finished_at = NULL, repeat = ?, "
            "options = ? WHERE id = ?",
            [repeat, json.dumps(dict(options), default=str), session_id],
        )


def ingest_repetition(path: Path, rows: RepetitionRows) -> None:
    """Store one repetition and everything it recorded, in one transaction.

    Rows a previous attempt at the same repetition number left are replaced, so
    ingesting twice never duplicates.
    """
    key = [rows.repetition["session_id"], rows.repetition["number"]]
    with connect(path, write=True) as conn:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute("DELETE FROM repetitions WHERE session_id = ? AND number = ?", key)
            for table in ("executions", "container_starts", "container_logs"):
                conn.execute(f"DELETE FROM {table} WHERE session_id = ? AND repetition = ?", key)
            _insert(conn, "repetitions", REPETITION_COLUMNS, [rows.repetition])
            _insert(conn, "executions", EXECUTION_COLUMNS, rows.executions)
            _insert(conn, "container_starts", CONTAINER_START_COLUMNS, rows.container_starts)
            _insert(conn, "container_logs", CONTAINER_LOG_COLUMNS, rows.container_logs)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def finish_session(path: Path, session_id: str, status: str) -> None:
    with connect(path, write=True) as conn:
        conn.execute(
            "UPDATE sessions SET status = ?, finished_at = ? WHERE id = ?",
            [status, datetime.now(UTC), session_id],
        )


def discard_session(path: Path, session_id: str) -> bool:
    """Remove a session that stored no repetition (bad input found once running)."""
    with connect(path, write=True) as conn:
        conn.execute("BEGIN TRANSACTION")
        row = conn.execute(
            "SELECT count(*) FROM repetitions WHERE session_id = ?", [session_id]
        ).fetchone()
        empty = row is not None and row[0] == 0
        if empty:
            conn.execute("DELETE FROM sessions WHERE id = ?", [session_id])
        conn.execute("COMMIT")
    return empty


def session_summary(path: Path, session_id: str) -> dict[str, Any]:
    """Counts for the end-of-run summary, over the whole session (resumed parts too)."""
    with connect(path, write=False) as conn:
        reps = dict(
            conn.execute(
                "SELECT status, count(*) FROM repetitions WHERE session_id = ? GROUP BY status",
                [session_id],
            ).fetchall()
        )
        outcomes = dict(
            conn.execute(
                "SELECT outcome, count(*) FROM executions WHERE session_id = ? GROUP BY outcome",
                [session_id],
            ).fetchall()
        )
        # The same counting rules as the report: xpassed is not a decided run.
        failing = ", ".join(f"'{o}'" for o in sorted(FAILING_OUTCOMES))
        per_test = conn.execute(
            f"""
            SELECT nodeid,
                   count(*) FILTER (WHERE outcome = 'passed') AS passed,
                   count(*) FILTER (WHERE outcome IN ({failing})
                                    AND NOT coalesce(infra, false)) AS failed
            FROM executions WHERE session_id = ? GROUP BY nodeid ORDER BY nodeid
            """,
            [session_id],
        ).fetchall()
        problems = conn.execute(
            "SELECT status, error, count(*), min(number) FROM repetitions WHERE session_id = ? "
            "AND status IN ('infra', 'crashed', 'timeout') GROUP BY status, error "
            "ORDER BY min(number) LIMIT 5",
            [session_id],
        ).fetchall()
    flaky = [nodeid for nodeid, passed, failed in per_test if passed and failed]
    broken = [nodeid for nodeid, passed, failed in per_test if failed and not passed]
    return {
        "repetitions": {str(k): int(v) for k, v in reps.items()},
        "repetitions_done": int(sum(reps.values())),
        "outcomes": {str(k): int(v) for k, v in outcomes.items()},
        "executions": int(sum(outcomes.values())),
        "tests": len(per_test),
        "flaky_tests": flaky,
        "failing_tests": broken,
        "problems": [
            {
                "status": st,
                "repetitions": int(count),
                "first": int(first),
                "error": _first_line(err),
            }
            for st, err, count, first in problems
        ],
    }


def _first_line(text: str | None, limit: int = 200) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0][:limit] if lines else ""


def _insert(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
) -> None:
    batch = [[row.get(column) for column in columns] for row in rows]
    placeholders = "(" + ", ".join("?" for _ in columns) + ")"
    names = ", ".join(columns)
    for start in range(0, len(batch), _CHUNK):
        chunk = batch[start : start + _CHUNK]
        conn.execute(
            f"INSERT INTO {table} ({names}) VALUES " + ", ".join([placeholders] * len(chunk)),
            [value for row in chunk for value in row],
        )
