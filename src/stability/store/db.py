"""Opening the history file (this package is the only one that imports duckdb).

Writers hold the file only while they write, one transaction at a time, so a report can
read while a campaign runs; DuckDB lets one process lock a file at a time, so an opener
that finds it locked waits and retries (`busy_timeout`) instead of failing.

Read commands open the file read-only and never create, upgrade or change anything. A
file that is not a pytest-stability history (another program's DuckDB file, a SQLite
file, anything else) is refused before anything is written into it. No connection may
install or load a DuckDB extension by itself: that would reach the network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb

from stability.exceptions import StoreError
from stability.store.schema import MIGRATIONS, SCHEMA_VERSION
from stability.text import first_line

Connection = duckdb.DuckDBPyConnection  # for type hints outside the store
DEFAULT_DB = Path(".stability") / "history.duckdb"
DB_ENV = "STABILITY_DB"
BUSY_TIMEOUT_S = 60.0
Mode = Literal["read", "write"]

# Every connection: no extension is ever downloaded or loaded behind our back.
CONNECTION_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB file
_OTHER_FORMATS = (
    (b"SQLite format 3\x00", "a SQLite file"),
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x1f\x8b", "a gzip file"),
)


def resolve_db_path(option: str | os.PathLike[str] | None = None) -> Path:
    """`--db`, else STABILITY_DB, else `.stability/history.duckdb`."""
    if option:
        return Path(option)
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


@contextmanager
def connect(
    path: Path,
    mode: Mode = "read",
    *,
    write: bool | None = None,
    busy_timeout: float = BUSY_TIMEOUT_S,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the history at `path`; closed (and the file released) on exit.

    `mode="read"`: read-only; the file must exist and be a history of this version or
    an older one. `mode="write"`: creates the file or upgrades its schema. Either way a
    file that is not a history is refused (StoreError) before anything is written.
    `write=` is the older spelling of the mode.
    """
    if write is not None:
        mode = "write" if write else "read"
    path = Path(path)
    _check_file(path, mode)
    conn = _open(path, read_only=mode == "read", busy_timeout=busy_timeout)
    try:
        version = _schema_version(conn, path)
        if version == 0 and mode == "read":
            raise StoreError(f"no history in {path} yet: run `stability run` first")
        if version < SCHEMA_VERSION:
            if mode == "read":
                raise StoreError(
                    f"{path} has schema {version}, older than this pytest-stability's "
                    f"{SCHEMA_VERSION}; read commands never change the file: upgrade it with "
                    f"any `stability run ... --db {path}`"
                )
            _migrate(conn, version)
        try:
            yield conn
        except duckdb.Error as exc:
            if mode == "write":  # a failed write is ours to see whole
                raise
            # reading a damaged file (a value out of range, a wrong type): one line
            raise StoreError(f"{path}: {first_line(str(exc))}") from None
    finally:
        conn.close()


def check_writable(path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
    """Refuse now (StoreError) what a write to `path` would refuse later, writing nothing.

    For a writer that wants to know the file is usable before it runs anything.
    """
    if path.exists() and not path.is_dir():
        _check_file(path, "read")
        conn = _open(path, read_only=True, busy_timeout=busy_timeout)
        try:
            _schema_version(conn, path)
        finally:
            conn.close()
        if not os.access(path, os.W_OK):
            raise StoreError(f"cannot write to {path}: permission denied")
        return
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a history file")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StoreError(f"cannot create {path.parent}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK):
        raise StoreError(f"cannot write to {ancestor}: permission denied")


def _check_file(path: Path, mode: Mode) -> None:
    """Refuse what is not a DuckDB file by its first bytes, before DuckDB opens it."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a history file")
    if not path.exists():
        if mode == "read":
            raise StoreError(f"no history at {path}: run `stability run` first, or pass --db")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc.strerror}") from None
        if not os.access(path.parent, os.W_OK):
            raise StoreError(f"cannot write to {path.parent}: permission denied")
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    if head[8:12] == _DUCKDB_MAGIC:
        return
    what = next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)
    if what is None:
        what = "an empty file" if not head else "not a DuckDB file"
    else:
        what = f"it is {what}"
    raise StoreError(f"{path} is not a pytest-stability history ({what})")


def _open(path: Path, *, read_only: bool, busy_timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + busy_timeout
    delay = 0.02
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only, config=dict(CONNECTION_CONFIG))
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


def _schema_version(conn: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The file's schema version, after checking it holds a history of that version.

    0: an empty DuckDB file (a writer may create the history in it). A file with tables
    of its own and no `schema_info` is another program's; one whose tables lack a
    column of its version is damaged. Both are refused, for reading and for writing.
    """
    columns = _columns(conn)
    if not columns:
        return 0
    if "schema_info" not in columns:
        theirs = ", ".join(sorted(columns)[:5])
        raise StoreError(
            f"{path} is not a pytest-stability history (it holds other tables: {theirs})"
        )
    try:
        row = conn.execute("SELECT max(version) FROM schema_info").fetchone()
        raw = row[0] if row else None
    except duckdb.Error as exc:
        raise StoreError(f"{path}: unreadable schema version ({first_line(str(exc))})") from None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise StoreError(
            f"{path}: schema version {raw!r} is not a positive integer; "
            "the file is damaged or not a pytest-stability history"
        )
    if raw > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer pytest-stability (schema {raw}, this "
            f"version knows {SCHEMA_VERSION}): upgrade pytest-stability to read it"
        )
    for table, wanted in expected_columns(raw).items():
        missing = sorted(wanted - columns.get(table, set()))
        if table not in columns:
            raise StoreError(f"{path}: damaged history, table {table} is missing")
        if missing:
            raise StoreError(
                f"{path}: damaged history, table {table} lacks column(s) {', '.join(missing)}"
            )
    return raw


def _columns(conn: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall()
    for table, column in rows:
        found.setdefault(str(table), set()).add(str(column))
    return found


@cache
def expected_columns(version: int) -> dict[str, frozenset[str]]:
    """The tables and columns a history of schema `version` has (from the migrations)."""
    conn = duckdb.connect(":memory:", config=dict(CONNECTION_CONFIG))
    try:
        for step in range(version):
            _apply(conn, step)
        return {table: frozenset(cols) for table, cols in _columns(conn).items()}
    finally:
        conn.close()


def _apply(conn: duckdb.DuckDBPyConnection, step: int) -> None:
    migration = MIGRATIONS[step]
    if isinstance(migration, str):
        conn.execute(migration)
    else:
        migration(conn)


def _migrate(conn: duckdb.DuckDBPyConnection, current: int) -> None:
    conn.execute("BEGIN TRANSACTION")
    try:
        for step in range(current, SCHEMA_VERSION):
            _apply(conn, step)
            conn.execute("INSERT INTO schema_info (version) VALUES (?)", [step + 1])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
