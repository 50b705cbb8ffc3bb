"""What the store promises about files: read-only reads, foreign files untouched, no network.

Real DuckDB and SQLite files; the read-only cases mount the folder read-only (a private
mount namespace), since the suite runs as root, for whom file modes are no barrier.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from history_factory import History
from stability.cli import main
from stability.exceptions import StoreError
from stability.store import db as store_db
from stability.store.db import connect
from stability.store.schema import MIGRATIONS, SCHEMA_VERSION

SESSION = "20261101-020000-aaaa"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def history(tmp_path: Path) -> Path:
    h = History(tmp_path / "history.duckdb")
    h.session(SESSION, {"t.py::test_a": "PFP", "t.py::test_b": "PPP"})
    return h.write()


def test_every_connection_has_extension_autoinstall_and_autoload_off(history: Path) -> None:
    for mode in ("read", "write"):
        with connect(history, mode) as conn:
            settings = conn.execute(
                "SELECT current_setting('autoinstall_known_extensions'), "
                "current_setting('autoload_known_extensions')"
            ).fetchone()
            assert settings == (False, False)
            # what would have fetched an extension from the internet is refused locally
            with pytest.raises(duckdb.Error, match="httpfs"):
                conn.execute("SELECT * FROM read_csv('https://example.invalid/x.csv')")


def test_a_sqlite_file_is_named_as_such_before_duckdb_opens_it(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "app.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    before = digest(path)
    for mode in ("read", "write"):
        with (
            pytest.raises(StoreError, match=r"not a pytest-stability history \(it is a SQLite"),
            connect(path, mode),
        ):
            pass
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no .wal, nothing new


def test_a_foreign_duckdb_file_is_refused_for_reading_and_writing_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as conn:  # another program's file, with a `sessions` table
        conn.execute("CREATE TABLE sessions (token VARCHAR)")
    before = digest(path)
    for args in (
        ["report", "--db", str(path), "--format", "text"],
        ["check", "--db", str(path)],
        ["sessions", "--db", str(path)],
        ["show", "x", "--db", str(path)],
        ["logs", "s", "1", "--db", str(path)],
        ["run", str(tmp_path), "--repeat", "1", "--db", str(path)],
    ):
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 2, result.output
        assert "it holds other tables: sessions" in result.stderr
    assert digest(path) == before
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SHOW TABLES").fetchall() == [("sessions",)]


def test_a_users_own_extra_table_in_the_history_is_tolerated(history: Path) -> None:
    with duckdb.connect(str(history)) as conn:
        conn.execute("CREATE TABLE my_notes (nodeid VARCHAR, note VARCHAR)")
    with connect(history, "read") as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
    with connect(history, "write"):
        pass


def test_an_empty_duckdb_file_is_not_read_as_a_history_and_not_changed(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    before = digest(path)
    result = CliRunner().invoke(main, ["sessions", "--db", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert "no history in" in result.stderr
    assert digest(path) == before


@pytest.fixture
def next_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This version of the package pretends to know a schema 2 (one more column)."""
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(
        store_db, "MIGRATIONS", [*MIGRATIONS, "ALTER TABLE sessions ADD COLUMN note VARCHAR;"]
    )
    store_db.expected_columns.cache_clear()
    yield
    store_db.expected_columns.cache_clear()


def test_an_older_schema_is_never_upgraded_by_a_read_command(
    history: Path, next_schema: None
) -> None:
    before = digest(history)
    for args in (["sessions"], ["report", "--format", "text"], ["check"]):
        result = CliRunner().invoke(main, [*args, "--db", str(history)], catch_exceptions=False)
        assert result.exit_code == 2
        assert "read commands never change the file" in result.stderr
        assert result.stderr.count("\n") == 1
    assert digest(history) == before
    with connect(history, "write") as conn:  # a write command upgrades it
        assert conn.execute("SELECT max(version) FROM schema_info").fetchone() == (
            SCHEMA_VERSION + 1,
        )
        conn.execute("SELECT note FROM sessions").fetchall()


def test_reading_a_value_duckdb_cannot_convert_is_one_line(history: Path) -> None:
    with duckdb.connect(str(history)) as conn:  # damage: a column of another type
        conn.execute("ALTER TABLE executions ALTER call_s TYPE VARCHAR")
        conn.execute("UPDATE executions SET call_s = 'slow'")
    result = CliRunner().invoke(
        main, ["report", "--db", str(history), "--format", "text"], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"stability: error: {history}: ")
    assert result.stderr.count("\n") == 1


READ_COMMANDS = [
    ["sessions"],
    ["report", "--format", "text"],
    ["report", "--format", "json", "--out", "{out}"],
    ["check", "--max-flake-rate", "50%"],
    ["show", "test_a"],
]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root")
@pytest.mark.parametrize("args", READ_COMMANDS, ids=[" ".join(a) for a in READ_COMMANDS])
def test_read_commands_read_a_history_in_a_read_only_folder(
    history: Path, tmp_path: Path, args: list[str]
) -> None:
    folder = history.parent
    out = tmp_path.parent / f"{tmp_path.name}-out"
    command = [sys.executable, "-c", "from stability.cli import main; main()", *args]
    command = [a.replace("{out}", str(out)) for a in command] + ["--db", str(history)]
    script = (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        f'touch {folder}/probe 2>/dev/null && exit 99; exec "$@"'
    )
    before = digest(history)
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr and "Traceback" not in proc.stderr
    assert digest(history) == before
