"""Writing the history: the runner's side of the store.

Every function opens the file for its one write and closes it again, so readers
(`stability report`) can open it between repetitions. A repetition with all its rows is
one transaction: after a crash it is either wholly there or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from stability.analysis.causes import Diagnosis
from stability.exceptions import StoreError, UsageError
from stability.records import (
    ContainerLog,
    ContainerStart,
    Execution,
    Repetition,
    Session,
    columns,
    values,
)
from stability.store import summaries
from stability.store.db import connect

_CHUNK = 200  # rows per multi-row INSERT (executemany is ~1 ms a row in DuckDB)

SESSION_COLUMNS = columns(Session)
REPETITION_COLUMNS = columns(Repetition)
EXECUTION_COLUMNS = columns(Execution, keyed=True)
CONTAINER_START_COLUMNS = columns(ContainerStart, keyed=True)
CONTAINER_LOG_COLUMNS = columns(ContainerLog, keyed=True)


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

    repetition: Repetition
    executions: list[Execution] = field(default_factory=list)
    container_starts: list[ContainerStart] = field(default_factory=list)
    container_logs: list[ContainerLog] = field(default_factory=list)

    def keyed(self, records: Sequence[Any]) -> list[list[Any]]:
        """Rows of per-repetition records, with the repetition key in front."""
        key = [self.repetition.session_id, self.repetition.number]
        return [key + values(record) for record in records]


def create_session(path: Path, session: Session) -> None:
    with connect(path, "write") as conn:
        try:
            _insert(conn, "sessions", SESSION_COLUMNS, [values(session)])
        except duckdb.ConstraintException:
            raise StoreError(f"session {session.id} already exists in {path}") from None


def session_exists(path: Path, session_id: str) -> bool:
    if not path.exists():
        return False
    with connect(path, "read") as conn:
        row = conn.execute("SELECT count(*) FROM sessions WHERE id = ?", [session_id]).fetchone()
    return bool(row and row[0])


def load_session(path: Path, session_id: str) -> StoredSession:
    """A session to resume, with the numbers of its completed repetitions.

    Opened for writing (`--resume` is a write: an older schema is upgraded) when the
    file exists; a missing file is not created.
    """
    with connect(path, "write" if path.exists() else "read") as conn:
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
    with connect(path, "write") as conn:
        conn.execute(
            "UPDATE sessions SET status = 'running', finished_at = NULL, repeat = ?, "
            "options = ? WHERE id = ?",
            [repeat, json.dumps(dict(options), default=str), session_id],
        )


_READ_RETRIES = 2
T = TypeVar("T")


def _in_transaction(path: Path, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """`body` in one write transaction: committed whole, or rolled back and raised.

    Seen under load with two campaigns taking turns on one file: DuckDB read past the
    end of the file the other process had just written ("Could not read enough bytes").
    Nothing was committed then, so the body runs again on a fresh open (twice at most);
    every body here may run twice (a repetition's rows replace their earlier copy).
    """
    for attempt in range(_READ_RETRIES + 1):
        try:
            with connect(path, "write") as conn:
                conn.execute("BEGIN TRANSACTION")
                try:
                    result = body(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            return result
        except duckdb.IOException as exc:
            if attempt == _READ_RETRIES or "read enough bytes" not in str(exc):
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def ingest_repetition(path: Path, rows: RepetitionRows) -> None:
    """Store one repetition and everything it recorded, in one transaction.

    Rows a previous attempt at the same repetition number left are replaced, so
    ingesting twice never duplicates.
    """
    ingest_repetitions(path, [rows])


def ingest_repetitions(path: Path, repetitions: Sequence[RepetitionRows]) -> None:
    """Store several repetitions in one transaction, on one opening of the file (an
    opening and its closing cost about 50 ms of CPU)."""

    def write(conn: duckdb.DuckDBPyConnection) -> None:
        for rows in repetitions:
            _write_repetition(conn, rows)

    _in_transaction(path, write)


def import_session(path: Path, session: Session, repetitions: Sequence[RepetitionRows]) -> None:
    """A whole session from elsewhere (`stability import`), in one transaction."""
    with connect(path, "write") as conn:
        conn.execute("BEGIN TRANSACTION")
        try:
            try:
                _insert(conn, "sessions", SESSION_COLUMNS, [values(session)])
            except duckdb.ConstraintException:
                raise StoreError(f"session {session.id} already exists in {path}") from None
            # a new session: nothing to replace, and its rows go in by the bulk path
            _insert(
                conn, "repetitions", REPETITION_COLUMNS, [values(r.repetition) for r in repetitions]
            )
            for table, columns in (
                ("executions", EXECUTION_COLUMNS),
                ("container_starts", CONTAINER_START_COLUMNS),
                ("container_logs", CONTAINER_LOG_COLUMNS),
            ):
                rows = [row for r in repetitions for row in r.keyed(getattr(r, table))]
                _insert_bulk(conn, table, columns, rows)
            summaries.refresh(conn, [session.id])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _write_repetition(conn: duckdb.DuckDBPyConnection, rows: RepetitionRows) -> None:
    key = [rows.repetition.session_id, rows.repetition.number]
    conn.execute("DELETE FROM repetitions WHERE session_id = ? AND number = ?", key)
    for table in ("executions", "container_starts", "container_logs"):
        conn.execute(f"DELETE FROM {table} WHERE session_id = ? AND repetition = ?", key)
    _insert(conn, "repetitions", REPETITION_COLUMNS, [values(rows.repetition)])
    _insert(conn, "executions", EXECUTION_COLUMNS, rows.keyed(rows.executions))
    _insert(conn, "container_starts", CONTAINER_START_COLUMNS, rows.keyed(rows.container_starts))
    _insert(conn, "container_logs", CONTAINER_LOG_COLUMNS, rows.keyed(rows.container_logs))
    # Summarised when the session ends (`finish_session`), not at every repetition: that
    # work would compete for the cores with the next repetition's pytest. Meanwhile
    # readers summarise the session on the fly (`summaries.stale_sessions`).
    summaries.mark_stale(conn, [rows.repetition.session_id])


def finish_session(path: Path, session_id: str, status: str) -> None:
    """The session's end: its status, and the summaries of all its repetitions."""

    def finish(conn: duckdb.DuckDBPyConnection) -> None:
        conn.execute(
            "UPDATE sessions SET status = ?, finished_at = ? WHERE id = ?",
            [status, datetime.now(UTC), session_id],
        )
        summaries.refresh(conn, [session_id])

    _in_transaction(path, finish)


def discard_session(path: Path, session_id: str) -> bool:
    """Remove a session that stored no repetition (bad input found once running)."""
    with connect(path, "write") as conn:
        conn.execute("BEGIN TRANSACTION")
        row = conn.execute(
            "SELECT count(*) FROM repetitions WHERE session_id = ?", [session_id]
        ).fetchone()
        empty = row is not None and row[0] == 0
        if empty:
            conn.execute("DELETE FROM sessions WHERE id = ?", [session_id])
        conn.execute("COMMIT")
    return empty


def _insert(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    names_in_order: Sequence[str],
    rows: Iterable[list[Any]],
) -> None:
    """Insert rows whose values are in `columns` order (see `stability.records`)."""
    batch = list(rows)
    placeholders = "(" + ", ".join("?" for _ in names_in_order) + ")"
    names = ", ".join(names_in_order)
    for start in range(0, len(batch), _CHUNK):
        chunk = batch[start : start + _CHUNK]
        conn.execute(
            f"INSERT INTO {table} ({names}) VALUES " + ", ".join([placeholders] * len(chunk)),
            [value for row in chunk for value in row],
        )


def _insert_bulk(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    names_in_order: Sequence[str],
    rows: list[list[Any]],
) -> None:
    """Many rows at once through a DataFrame: DuckDB binds `VALUES` parameters at about a
    millisecond a row, a DataFrame scan at microseconds."""
    if len(rows) < _CHUNK:
        _insert(conn, table, names_in_order, rows)
        return
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(names_in_order), dtype=object)
    names = ", ".join(names_in_order)
    conn.register("stability_bulk_rows", frame)
    try:
        conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM stability_bulk_rows")
    finally:
        conn.unregister("stability_bulk_rows")


def store_diagnosis(path: Path, diagnosis: Diagnosis) -> None:
    """Keep what `stability diagnose` found, with the test and the session it diagnosed."""
    d = diagnosis
    with connect(path, "write") as conn:
        conn.execute(
            "INSERT INTO diagnoses (session_id, nodeid, verdict, polluters, failing_order, "
            "failing_command, passing_command, probes, probe_session, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                d.session_id,
                d.nodeid,
                d.verdict,
                list(d.polluters),
                list(d.failing_order),
                d.failing_command,
                d.passing_command,
                d.probes,
                d.probe_session,
                datetime.now(UTC),
            ],
        )
