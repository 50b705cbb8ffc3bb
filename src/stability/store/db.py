"""Opening the history file (this package is the only one that imports duckdb).

Writers hold the file only while they write, one transaction at a time, so a report can
read while a campaign runs; DuckDB lets one process lock a file at a time, so an opener
that finds it locked waits and retries (`busy_timeout`) instead of failing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from stability.exceptions import StoreError
from stability.store.schema import MIGRATIONS, SCHEMA_VERSION
from stability.text import first_line

Connection = duckdb.DuckDBPyConnection  # for type hints outside the store
DEFAULT_DB = Path(".stability") / "history.duckdb"
DB_ENV = "STABILITY_DB"
BUSY_TIMEOUT_S = 60.0


def resolve_db_path(option: str | os.PathLike[str] | None = None) -> Path:
    """`--db`, else STABILITY_DB, else `.stability/history.duckdb`."""
    if option:
        return Path(option)
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


@contextmanager
def connect(
    path: Path, *, write: bool, busy_timeout: float = BUSY_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the schema current; closed (and the file released) on exit.

    Reading a file that does not exist raises StoreError; writing creates it.
    """
    if not write and not path.exists():
        raise StoreError(f"no history at {path}: run `stability run` first, or pass --db")
    if write:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc.strerror}") from None
        if path.parent.exists() and not os.access(path.parent, os.W_OK):
            raise StoreError(f"cannot write to {path.parent}: permission denied")
    conn = _open(path, read_only=not write, busy_timeout=busy_timeout)
    try:
        version = _schema_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer pytest-stability (schema {version}, this "
                f"version knows {SCHEMA_VERSION}): upgrade pytest-stability to read it"
            )
        if version < SCHEMA_VERSION:
            if not write:  # upgrade through a short write, then read on
                conn.close()
                with connect(path, write=True, busy_timeout=busy_timeout):
                    pass
                conn = _open(path, read_only=True, busy_timeout=busy_timeout)
            else:
                _migrate(conn, version)
        yield conn
    finally:
        conn.close()


def _open(path: Path, *, read_only: bool, busy_timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + busy_timeout
    delay = 0.02
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only)
            # DuckDB draws a progress bar on stdout for queries over 2 s: never in our
            # output (`report --format markdown`, `--json`, a notebook's DataFrame call)
            conn.execute("SET enable_progress_bar = false")
            return conn
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower() and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            if "lock" in text.lower():
                raise StoreError(
                    f"{path} stayed locked by another process for {busy_timeout:g} s"
                ) from None
            raise StoreError(
                f"cannot open {path}: {first_line(text, 300, empty='unknown error')}"
            ) from None
        except duckdb.Error as exc:
            raise StoreError(
                f"{path} is not a readable pytest-stability history (corrupt or not DuckDB): "
                f"{first_line(str(exc), 300, empty='unknown error')}"
            ) from None


def _schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_info'"
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_info").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _migrate(conn: duckdb.DuckDBPyConnection, current: int) -> None:
    conn.execute("BEGIN TRANSACTION")
    try:
        for step in range(current, SCHEMA_VERSION):
            conn.execute(MIGRATIONS[step])
            conn.execute("INSERT INTO schema_info (version) VALUES (?)", [step + 1])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
