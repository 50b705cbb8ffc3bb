"""Bounded extracts for the report's charts: trend, outcome grid, duration samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from stability.analysis.models import SessionInfo, TrendPoint
from stability.store.queries._sql import IN_SCOPE, INFRA, RED_STATUSES
from stability.store.queries.per_test import summaries_cte


def trend(conn: duckdb.DuckDBPyConnection, last: SessionInfo, limit: int = 30) -> list[TrendPoint]:
    """The suite's numbers in the sessions with `last`'s label up to it, oldest first
    (per-test counts from the sessions' summaries)."""
    chosen = conn.execute(
        f"""
        SELECT id FROM sessions
        WHERE label IS NOT DISTINCT FROM $label AND started_at <= $until
        ORDER BY started_at DESC LIMIT {int(limit)}
        """,
        {"label": last.label, "until": last.started_at},
    ).fetchall()
    params: dict[str, Any] = {"ids": [r[0] for r in chosen]}
    sm = summaries_cte(
        conn,
        params,
        columns="session_id, executions, infra, passed, failed, errors, env_failed, env_errors",
    )
    rs = summaries_cte(conn, params, table="repetition_summaries", name="rs")
    rows = conn.execute(
        f"""
        WITH {sm}, {rs},
        chosen AS (
            SELECT id, started_at, git_commit FROM sessions
            WHERE id = ANY($ids::VARCHAR[])
        ),
        per_test AS (
            SELECT session_id, passed + failed + errors + env_failed + env_errors AS decided,
                   failed + errors + env_failed + env_errors AS failures, passed AS passes
            FROM sm WHERE executions > infra
        ),
        per_session AS (
            SELECT session_id, sum(decided) AS decided, sum(failures) AS failures,
                   count(*) AS tests, count(*) FILTER (WHERE failures > 0 AND passes > 0) AS flaky
            FROM per_test GROUP BY session_id
        ),
        reps AS (
            SELECT r.session_id, count(*) FILTER (WHERE r.status <> 'infra') AS repetitions,
                count(*) FILTER (WHERE r.status <> 'infra' AND (r.status IN
                    {RED_STATUSES} OR f.session_id IS NOT NULL)) AS red
            FROM repetitions r
            LEFT JOIN rs f
                ON f.session_id = r.session_id AND f.repetition = r.number AND f.failing > 0
            WHERE r.session_id IN (SELECT id FROM chosen)
            GROUP BY r.session_id
        )
        SELECT c.id, c.started_at, c.git_commit, coalesce(reps.repetitions, 0),
               coalesce(reps.red, 0), coalesce(p.decided, 0), coalesce(p.failures, 0),
               coalesce(p.tests, 0), coalesce(p.flaky, 0)
        FROM chosen c
        LEFT JOIN per_session p ON p.session_id = c.id
        LEFT JOIN reps ON reps.session_id = c.id
        ORDER BY c.started_at
        """,
        params,
    ).fetchall()
    return [TrendPoint(*r[:3], *(int(v) for v in r[3:])) for r in rows]


def grid_columns(
    conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str], limit: int
) -> list[tuple[str, int]]:
    """The last `limit` repetitions of the scope with executions, in order: the outcome
    grid's columns."""
    params: dict[str, Any] = {"ids": list(session_ids)}
    rs = summaries_cte(conn, params, table="repetition_summaries", name="rs")
    rows = conn.execute(
        f"""
        WITH {rs}
        SELECT rs.session_id, rs.repetition FROM rs JOIN sessions s ON s.id = rs.session_id
        WHERE rs.executions > 0
        ORDER BY s.started_at DESC, rs.session_id DESC, rs.repetition DESC LIMIT {int(limit)}
        """,
        params,
    ).fetchall()
    return [(r[0], r[1]) for r in reversed(rows)]


def grid_cells(
    conn: duckdb.DuckDBPyConnection,
    columns: Sequence[tuple[str, int]],
    nodeids: Sequence[str],
) -> list[tuple[str, str, int, str, bool]]:
    """(nodeid, session, repetition, outcome, infra) for the chosen tests and columns."""
    if not columns or not nodeids:
        return []
    return [
        (r[0], r[1], r[2], r[3], bool(r[4]))
        for r in conn.execute(
            f"""
            SELECT e.nodeid, e.session_id, e.repetition, e.outcome, {INFRA}
            FROM executions e
            LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
            WHERE e.nodeid = ANY($nodeids::VARCHAR[])
              AND e.session_id = ANY($sessions::VARCHAR[])
              AND (e.session_id, e.repetition) IN (
                  SELECT (unnest($sessions_all::VARCHAR[]), unnest($reps::INTEGER[])))
            """,
            {
                "nodeids": list(nodeids),
                "sessions": sorted({c[0] for c in columns}),
                "sessions_all": [c[0] for c in columns],
                "reps": [c[1] for c in columns],
            },
        ).fetchall()
    ]


def call_durations(
    conn: duckdb.DuckDBPyConnection,
    session_ids: Sequence[str],
    nodeids: Sequence[str],
    per_test: int = 500,
) -> dict[str, list[float]]:
    """Call-phase durations of some tests (less container starts), the latest `per_test`
    of each, for box plots."""
    if not nodeids:
        return {}
    # The sessions holding each test's latest `per_test` timed executions, by the summaries.
    params: dict[str, Any] = {"ids": list(session_ids), "nodeids": list(nodeids)}
    sm = summaries_cte(
        conn, params, "AND nodeid = ANY($nodeids::VARCHAR[])", columns="session_id, nodeid, timed"
    )
    params["per_test"] = per_test
    latest = conn.execute(
        f"""
        WITH {sm}
        SELECT DISTINCT session_id FROM (
            SELECT sm.session_id, sum(sm.timed) OVER (
                PARTITION BY sm.nodeid ORDER BY s.started_at DESC, s.id DESC
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
            FROM sm JOIN sessions s ON s.id = sm.session_id WHERE sm.timed > 0
        ) WHERE coalesce(before, 0) < $per_test
        """,
        params,
    ).fetchall()
    rows = conn.execute(
        f"""
        SELECT e.nodeid, e.call_s - coalesce(e.call_container_s, 0)
        FROM executions e
        JOIN sessions s ON s.id = e.session_id
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.{IN_SCOPE} AND e.nodeid = ANY($nodeids::VARCHAR[])
          AND NOT {INFRA} AND e.outcome <> 'skipped' AND e.call_s IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY e.nodeid ORDER BY s.started_at DESC, e.repetition DESC) <= $per_test
        """,
        {"ids": [r[0] for r in latest], "nodeids": list(nodeids), "per_test": per_test},
    ).fetchall()
    result: dict[str, list[float]] = {n: [] for n in nodeids}
    for nodeid, value in rows:
        result[nodeid].append(float(value))
    return result
