"""The container logs kept for repetitions with a failure (the containers are gone)."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from stability.exceptions import StabilityError
from stability.store.queries.scope import Scope, resolve_scope


def container_logs(
    conn: duckdb.DuckDBPyConnection, session: str, repetition: int, service: str | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """The full session id and `(service, logs)` of one repetition, by service name."""
    [info] = resolve_scope(conn, Scope(session=session))
    rows = conn.execute(
        "SELECT service, logs FROM container_logs WHERE session_id = ? AND repetition = ? "
        "AND (? IS NULL OR service = ?) ORDER BY service",
        [info.id, repetition, service, service],
    ).fetchall()
    ran = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE number = ?) FROM repetitions WHERE session_id = ?",
        [repetition, info.id],
    ).fetchone()
    stored, found = ran if ran else (0, 0)
    if not rows and not found:
        raise StabilityError(f"no repetition {repetition} in session {info.id} ({stored} stored)")
    if not rows:
        what = f"{service} logs" if service else "container logs"
        raise StabilityError(
            f"no {what} kept for session {info.id} repetition {repetition}: logs are kept "
            "only for repetitions in which a test failed"
        )
    return info.id, [(str(s), str(logs or "")) for s, logs in rows]


def repetitions_with_logs(
    conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str]
) -> set[tuple[str, int]]:
    """(session, repetition) of the repetitions whose container logs were kept."""
    rows = conn.execute(
        "SELECT DISTINCT session_id, repetition FROM container_logs "
        "WHERE session_id = ANY($ids::VARCHAR[])",
        {"ids": list(session_ids)},
    ).fetchall()
    return {(str(s), int(n)) for s, n in rows}
