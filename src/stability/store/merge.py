"""`stability merge`: put histories together (the shards of a session, or whole histories).

Every source is ATTACHed read-only and copied into the target inside one transaction, so
a merge that fails or is killed leaves the target as it was. Rows are keyed by session id
and repetition number: a repetition already in the target is skipped (merging a file
twice adds nothing), and the shards of one session become one session. Sessions that
two files both hold must agree on what was run (label, targets, N, commit, the options
that change what is measured); otherwise the merge is refused, naming the difference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from stability.exceptions import StoreError, UsageError
from stability.store import summaries
from stability.store.db import connect
from stability.store.schema import SCHEMA_VERSION

_CHILD_TABLES = ("executions", "container_starts", "container_logs")
# Options that say who ran a shard, not what was run: they may differ between shards.
_PER_SHARD_OPTIONS = frozenset({"runner_pid", "runner_host", "resumed", "shard"})
_AGREE = ("label", "targets", "repeat", "git_commit")
# A session's status when its shards end differently: the least finished one wins.
_STATUS_RANK = {"running": 0, "interrupted": 1, "stopped_at_failure": 2, "completed": 3}


@dataclass
class MergeResult:
    into: str
    sources: list[str]
    sessions_added: int = 0  # sessions the target did not hold
    sessions_joined: int = 0  # sessions the target held that gained repetitions
    repetitions_added: int = 0
    repetitions_skipped: int = 0  # already in the target (the same file merged again)
    executions_added: int = 0
    sessions: list[str] = field(default_factory=list)  # every session the sources hold


def merge_histories(sources: Sequence[Path], into: Path) -> MergeResult:
    """Merge `sources` into `into` (created if missing) in one transaction."""
    unique = _check_paths(sources, into)
    result = MergeResult(into=str(into), sources=[str(p) for p in unique])
    created = not into.exists()
    try:
        _merge_all(unique, into, result)
    except BaseException:
        if created:  # a refused merge into a new file leaves no file behind
            for leftover in (into, into.with_name(into.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    result.sessions = sorted(set(result.sessions))
    return result


def _merge_all(unique: list[Path], into: Path, result: MergeResult) -> None:
    with connect(into, "write") as conn:
        aliases = [_attach(conn, path, i) for i, path in enumerate(unique)]
        try:
            conn.execute("BEGIN TRANSACTION")
            try:
                for alias, path in zip(aliases, unique, strict=True):
                    _merge_one(conn, alias, path, into, result)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            for alias in aliases:
                conn.execute(f"DETACH {alias}")


def _check_paths(sources: Sequence[Path], into: Path) -> list[Path]:
    if not sources:
        raise UsageError("give at least one history file to merge")
    target = into.resolve()
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in sources:
        resolved = path.resolve()
        if resolved == target:
            raise UsageError(f"{path} is the target itself: merge other files --into it")
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        if not _is_duckdb(path):
            raise StoreError(f"{path} is not a DuckDB file (a pytest-stability history)")
        if resolved not in seen:  # the same file named twice adds nothing anyway
            seen.add(resolved)
            unique.append(path)
    return unique


def _is_duckdb(path: Path) -> bool:
    """DuckDB files carry the magic bytes `DUCK` at offset 8."""
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[8:12] == b"DUCK"
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None


def _attach(conn: duckdb.DuckDBPyConnection, path: Path, index: int) -> str:
    alias = f"merge_src_{index}"
    quoted = str(path).replace("'", "''")
    try:
        conn.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
    except duckdb.Error as exc:
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"{path} is not a readable DuckDB history: {text}") from None
    tables = {t for (t,) in conn.execute(_TABLES_SQL, [alias]).fetchall()}
    missing = {"schema_info", "sessions", "repetitions", "executions"} - tables
    if missing:
        conn.execute(f"DETACH {alias}")
        raise StoreError(f"{path} is not a pytest-stability history (no {', '.join(missing)})")
    row = conn.execute(f"SELECT max(version) FROM {alias}.schema_info").fetchone()
    version = int(row[0]) if row and row[0] is not None else 0
    if version > SCHEMA_VERSION:
        conn.execute(f"DETACH {alias}")
        raise StoreError(
            f"{path} was written by a newer pytest-stability (schema {version}, this version "
            f"knows {SCHEMA_VERSION}): upgrade pytest-stability to merge it"
        )
    return alias


_TABLES_SQL = "SELECT table_name FROM information_schema.tables WHERE table_catalog = ?"


def _columns(conn: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_name = ? ORDER BY ordinal_position",
        [catalog, table],
    ).fetchall()
    return [r[0] for r in rows]


def _common(conn: duckdb.DuckDBPyConnection, target: str, alias: str, table: str) -> str:
    """The columns both files have (an older source lacks newer ones: they stay NULL)."""
    theirs = set(_columns(conn, alias, table))
    return ", ".join(c for c in _columns(conn, target, table) if c in theirs)


def _merge_one(
    conn: duckdb.DuckDBPyConnection, alias: str, path: Path, into: Path, result: MergeResult
) -> None:
    target = _current_catalog(conn)
    tables = {t for (t,) in conn.execute(_TABLES_SQL, [alias]).fetchall()}
    _check_agreement(conn, alias, path, into)
    _check_repetitions(conn, alias, path, into)

    ids = [r[0] for r in conn.execute(f"SELECT id FROM {alias}.sessions").fetchall()]
    result.sessions.extend(ids)
    known = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM sessions WHERE list_contains(?::VARCHAR[], id)", [ids]
        ).fetchall()
    }
    cols = _common(conn, target, alias, "sessions")
    conn.execute(
        f"INSERT INTO sessions ({cols}) SELECT {cols} FROM {alias}.sessions "
        "WHERE id NOT IN (SELECT id FROM sessions)"
    )
    result.sessions_added += len(set(ids) - known)

    conn.execute("DROP TABLE IF EXISTS merge_new_reps")
    conn.execute(
        f"""
        CREATE TEMP TABLE merge_new_reps AS
        SELECT session_id, number FROM {alias}.repetitions
        EXCEPT SELECT session_id, number FROM repetitions
        """
    )
    new = _count(conn, "SELECT count(*) FROM merge_new_reps")
    result.repetitions_added += new
    result.repetitions_skipped += _count(conn, f"SELECT count(*) FROM {alias}.repetitions") - new
    joined = conn.execute(
        "SELECT DISTINCT session_id FROM merge_new_reps WHERE list_contains(?::VARCHAR[], "
        "session_id)",
        [sorted(known)],
    ).fetchall()
    result.sessions_joined += len(joined)

    cols = _common(conn, target, alias, "repetitions")
    conn.execute(
        f"INSERT INTO repetitions ({cols}) SELECT {cols} FROM {alias}.repetitions "
        "WHERE (session_id, number) IN (SELECT (session_id, number) FROM merge_new_reps)"
    )
    for table in _CHILD_TABLES:
        if table not in tables:
            continue
        cols = _common(conn, target, alias, table)
        before = _count(conn, f"SELECT count(*) FROM {table}") if table == "executions" else 0
        conn.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {alias}.{table} "
            "WHERE (session_id, repetition) IN (SELECT (session_id, number) FROM merge_new_reps)"
        )
        if table == "executions":
            result.executions_added += _count(conn, "SELECT count(*) FROM executions") - before
    _widen_sessions(conn, alias, sorted(known))
    grown = conn.execute("SELECT DISTINCT session_id FROM merge_new_reps").fetchall()
    summaries.refresh(conn, sorted(r[0] for r in grown))


def _check_agreement(conn: duckdb.DuckDBPyConnection, alias: str, path: Path, into: Path) -> None:
    """Sessions held on both sides must describe the same campaign."""
    names = ", ".join(f"{{side}}.{c}" for c in (*_AGREE, "options"))
    rows = conn.execute(
        f"""
        SELECT t.id, {names.format(side="t")}, {names.format(side="s")}
        FROM sessions t JOIN {alias}.sessions s ON s.id = t.id
        """
    ).fetchall()
    width = len(_AGREE) + 1
    for row in rows:
        ours = _comparable(row[1 : 1 + width])
        theirs = _comparable(row[1 + width :])
        for key in ours.keys() | theirs.keys():
            if ours.get(key) != theirs.get(key):
                raise StoreError(
                    f"{path} and {into} disagree about session {row[0]}: {key} is "
                    f"{_show(theirs.get(key))} in {path.name} but {_show(ours.get(key))} "
                    f"in {into.name}; a session's shards must run the same command"
                )


def _comparable(values: Sequence[Any]) -> dict[str, Any]:
    found = dict(zip((*_AGREE, "options"), values, strict=True))
    found["targets"] = list(found["targets"] or [])
    options = json.loads(found.pop("options") or "{}")
    shard = options.get("shard")
    found["shards"] = int(str(shard).split("/")[1]) if shard else None
    for key, value in options.items():
        if key not in _PER_SHARD_OPTIONS:
            found[f"options.{key}"] = value
    return found


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value)


def _check_repetitions(conn: duckdb.DuckDBPyConnection, alias: str, path: Path, into: Path) -> None:
    """A repetition number run twice (overlapping shards) is refused, not guessed."""
    clash = conn.execute(
        f"""
        SELECT s.session_id, s.number FROM {alias}.repetitions s
        JOIN repetitions t ON t.session_id = s.session_id AND t.number = s.number
        WHERE s.started_at IS DISTINCT FROM t.started_at
        ORDER BY 1, 2 LIMIT 1
        """
    ).fetchone()
    if clash:
        raise StoreError(
            f"repetition {clash[1]} of session {clash[0]} was run twice, in {path} and "
            f"in {into}: do the shards overlap (the same --shard in two jobs)?"
        )


def _widen_sessions(conn: duckdb.DuckDBPyConnection, alias: str, ids: list[str]) -> None:
    """A joined session spans its shards: earliest start, latest finish, least finished."""
    if not ids:
        return
    rows = conn.execute(
        f"""
        SELECT t.id, least(t.started_at, s.started_at), t.finished_at, s.finished_at,
               t.status, s.status
        FROM sessions t JOIN {alias}.sessions s ON s.id = t.id
        WHERE list_contains(?::VARCHAR[], t.id)
        """,
        [ids],
    ).fetchall()
    for session_id, started, fin_t, fin_s, status_t, status_s in rows:
        status = min(
            (status_t, status_s), key=lambda st: _STATUS_RANK.get(str(st), _STATUS_RANK["running"])
        )
        ends = [f for f in (fin_t, fin_s) if f is not None]
        finished = max(ends) if ends and status != "running" else None
        conn.execute(
            "UPDATE sessions SET started_at = ?, finished_at = ?, status = ? WHERE id = ?",
            [started, finished, status, session_id],
        )


def _current_catalog(conn: duckdb.DuckDBPyConnection) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else "main"


def _count(conn: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0
