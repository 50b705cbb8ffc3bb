"""Per-test tallies, signatures, repetitions and raw rows of a scope, computed in DuckDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from stability.analysis.models import (
    ContainerStart,
    ExecutionRow,
    RepetitionRow,
    SignatureCounts,
)
from stability.store.queries._sql import (
    ENVIRONMENT,
    IN_SCOPE,
    INFRA,
)
from stability.store.queries.per_test import summaries_cte


def tally_signatures(
    conn: duckdb.DuckDBPyConnection,
    session_ids: Sequence[str],
    *,
    nodeid: str | None = None,
    per_test: int = 20,
    example_chars: int = 2000,
) -> list[SignatureCounts]:
    """`aggregate.count_signatures` in SQL, keeping the `per_test` commonest per test:
    from the sessions' signature summaries, environment failures left out for a test
    whose every failure is one."""
    extra = "AND nodeid = $nodeid" if nodeid is not None else ""
    params: dict[str, Any] = {"ids": list(session_ids), "per_test": per_test}
    if nodeid is not None:
        params["nodeid"] = nodeid
    sm = summaries_cte(
        conn, params, extra, columns="nodeid, failed, errors, env_failed, env_errors"
    )
    sg = summaries_cte(conn, params, extra, table="signature_summaries", name="sg")
    first = "s_start, session_id, first_repetition, first_started"
    last = "s_start, session_id, last_repetition, last_started"
    rows = conn.execute(
        f"""
        WITH {sm}, {sg},
        env AS (
            SELECT nodeid, sum(env_failed + env_errors) > 0 AND sum(failed + errors) = 0
                AS env_only
            FROM sm GROUP BY nodeid
        ),
        kept AS (
            SELECT sg.*, s.started_at AS s_start FROM sg
            JOIN sessions s ON s.id = sg.session_id
            LEFT JOIN env USING (nodeid)
            -- environment failures count only for a test that also fails otherwise
            WHERE NOT (sg.environment AND coalesce(env.env_only, false))
        ),
        grouped AS (
            SELECT nodeid, signature, sum(count)::BIGINT AS n,
                first(error_type ORDER BY {first}) AS error_type,
                first(session_id ORDER BY {first}) AS first_session,
                first(first_repetition ORDER BY {first}) AS first_repetition,
                last(session_id ORDER BY {last}) AS last_session,
                last(last_repetition ORDER BY {last}) AS last_repetition,
                first(left(example, {int(example_chars)}) ORDER BY {first}) AS example,
                first(left(example_traceback, {int(example_chars)}) ORDER BY {first})
                    AS example_traceback
            FROM kept GROUP BY nodeid, signature
        )
        SELECT * FROM grouped
        QUALIFY row_number() OVER (PARTITION BY nodeid ORDER BY n DESC, signature) <= $per_test
        ORDER BY nodeid, n DESC, signature
        """,
        params,
    ).fetchall()
    return [
        SignatureCounts(
            nodeid=r[0],
            signature=r[1],
            count=r[2],
            error_type=r[3],
            first_session=r[4],
            first_repetition=r[5],
            last_session=r[6],
            last_repetition=r[7],
            example=r[8] or "",
            example_traceback=r[9],
        )
        for r in rows
    ]


def baseline_p50(conn: duckdb.DuckDBPyConnection, session_id: str) -> dict[str, float]:
    """Per-test call p50 in one (baseline) session, as `test_counts` computes it."""
    rows = conn.execute(
        f"""
        SELECT e.nodeid, quantile_cont(e.call_s - coalesce(e.call_container_s, 0), 0.5)
        FROM executions e
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.session_id = $id AND NOT {INFRA} AND e.outcome <> 'skipped'
          AND e.call_s IS NOT NULL
        GROUP BY e.nodeid
        """,
        {"id": session_id},
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def repetitions(conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str]) -> list[RepetitionRow]:
    """Every repetition of the sessions, with its count of failing non-infra executions."""
    params: dict[str, Any] = {"ids": list(session_ids)}
    rs = summaries_cte(conn, params, table="repetition_summaries", name="rs")
    rows = conn.execute(
        f"""
        WITH {rs}
        SELECT r.session_id, r.number, r.status, coalesce(f.failing, 0)
        FROM repetitions r
        JOIN sessions s ON s.id = r.session_id
        LEFT JOIN rs f ON f.session_id = r.session_id AND f.repetition = r.number
        WHERE r.{IN_SCOPE}
        ORDER BY s.started_at, r.session_id, r.number
        """,
        params,
    ).fetchall()
    return [RepetitionRow(r[0], r[1], r[2], r[3]) for r in rows]


def container_starts(
    conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str]
) -> list[ContainerStart]:
    rows = conn.execute(
        f"""
        SELECT c.session_id, c.repetition, c.service, c.ready_s, c.setup_s, c.ok, c.error,
               coalesce(c.origin, 'stability'), c.image, coalesce(c.died, false),
               c.wait_s, coalesce(c.pooled, false)
        FROM container_starts c JOIN sessions s ON s.id = c.session_id
        WHERE c.{IN_SCOPE}
        ORDER BY s.started_at, c.session_id, c.repetition, c.service, c.started_at
        """,
        {"ids": list(session_ids)},
    ).fetchall()
    return [ContainerStart(*r) for r in rows]


def executions(
    conn: duckdb.DuckDBPyConnection,
    session_ids: Sequence[str],
    nodeid: str | None = None,
    *,
    limit: int | None = None,
) -> list[ExecutionRow]:
    """Raw executions in chronological order (all of a scope, or one test's)."""
    extra = "AND e.nodeid = $nodeid" if nodeid is not None else ""
    params: dict[str, Any] = {"ids": list(session_ids)}
    if nodeid is not None:
        params["nodeid"] = nodeid
    limit_sql = f"LIMIT {int(limit)}" if limit else ""
    rows = conn.execute(
        f"""
        SELECT e.session_id, e.repetition, e.nodeid, e.outcome, {INFRA}, s.git_commit,
               e.phase, e.setup_s, e.call_s, e.teardown_s, e.error_type, e.message,
               e.traceback, e.failure_signature, NOT {INFRA} AND {ENVIRONMENT}, e.failure_frame,
               e.setup_container_s, e.call_container_s
        FROM executions e
        JOIN sessions s ON s.id = e.session_id
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.{IN_SCOPE} {extra}
        ORDER BY s.started_at, e.session_id, e.repetition, e.started_at {limit_sql}
        """,
        params,
    ).fetchall()
    names = [
        "session_id",
        "repetition",
        "nodeid",
        "outcome",
        "infra",
        "commit",
        "phase",
        "setup_s",
        "call_s",
        "teardown_s",
        "error_type",
        "message",
        "traceback",
        "failure_signature",
        "environment",
        "failure_frame",
        "setup_container_s",
        "call_container_s",
    ]
    return [
        ExecutionRow(
            **dict(zip(names, (*r[:4], bool(r[4]), *r[5:14], bool(r[14]), *r[15:]), strict=True))
        )
        for r in rows
    ]


def find_nodeids(
    conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str], text: str, limit: int = 20
) -> list[str]:
    """The test `text` names: itself if stored, else the nodeids containing it."""
    rows = conn.execute(
        f"""
        SELECT DISTINCT nodeid FROM executions
        WHERE {IN_SCOPE} AND (nodeid = $text OR contains(nodeid, $text))
        ORDER BY nodeid = $text DESC, nodeid LIMIT {int(limit)}
        """,
        {"ids": list(session_ids), "text": text},
    ).fetchall()
    names = [r[0] for r in rows]
    return [text] if text in names else names
