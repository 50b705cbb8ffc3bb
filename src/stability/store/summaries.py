"""Per-(session, test) summaries: what the reports and `check` read instead of executions.

A year of nightly campaigns is tens of millions of executions; every per-test number of
a report is a sum over sessions of something each session can say about itself. So each
session keeps one row per test (`test_summaries`): its counts under the counting rules
of `stability.analysis.rules`, the first and last decided outcome and the flips between
them, and its declared-order and shuffled first-run sequences for the causes; beside it,
its call durations as a log-binned histogram (`duration_bins`), its failure signatures
(`signature_summaries`), and per repetition the failures that make it red
(`repetition_summaries`). The rules that depend on the whole scope (which
tests' environment failures are counted apart, flips across sessions, pass-and-fail on
one commit) are applied when the summaries are combined (`queries.per_test`).

Summaries are written with the rows they summarise: after each repetition is ingested,
an imported session, a merge; the schema migration to version 8 backfills old
histories. `summarised_sessions` records how many repetitions each summary saw, so a
reader recognises a session written behind the store's back (by SQL, an older writer)
and summarises it on the fly instead of trusting a stale row.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from stability.analysis.models import BINNED_QUANTILE_ERROR
from stability.store.queries._sql import DECIDED, ENVIRONMENT, FAILED, FAILING, INFRA, SIGNATURE

# Durations are binned on a log scale: bin b holds values within a factor e^(1/BINS_PER_E)
# of exp(b / BINS_PER_E), so a bin's middle is within BIN_ERROR of any value in it.
BINS_PER_E = 20
BIN_ERROR = BINNED_QUANTILE_ERROR  # e^(1/40) - 1: half a bin, as a relative error
ZERO_BIN = -1_000_000  # durations of a microsecond or less (and negative ones)
BATCH_SESSIONS = 8  # sessions summarised per statement when backfilling
BACKFILL_MEMORY = "512MB"  # DuckDB's buffers while the migration summarises
EXAMPLE_CHARS = 2000  # of a signature's example message and traceback

DDL = """
    CREATE TABLE IF NOT EXISTS test_summaries (
        session_id VARCHAR NOT NULL,
        nodeid VARCHAR NOT NULL,
        executions BIGINT NOT NULL,        -- every execution, infra ones included
        infra BIGINT NOT NULL,
        passed BIGINT NOT NULL,            -- the next seven: neither infra nor environment
        failed BIGINT NOT NULL,            -- failed, timeout, crashed
        errors BIGINT NOT NULL,
        timeouts BIGINT NOT NULL,
        skipped BIGINT NOT NULL,
        xfailed BIGINT NOT NULL,
        xpassed BIGINT NOT NULL,
        env_failed BIGINT NOT NULL,        -- environment failures (network, DNS), not infra
        env_errors BIGINT NOT NULL,
        env_timeouts BIGINT NOT NULL,
        total_s DOUBLE NOT NULL,           -- setup + call + teardown, neither infra nor env
        env_total_s DOUBLE NOT NULL,
        container_s DOUBLE NOT NULL,
        env_container_s DOUBLE NOT NULL,
        timed BIGINT NOT NULL,             -- executions whose call phase is timed
        max_call_s DOUBLE,                 -- call less containers
        measured_differs BOOLEAN NOT NULL, -- a timed call spent time in containers
        first_main VARCHAR, last_main VARCHAR, flips_main BIGINT NOT NULL,  -- P/F, no env
        first_all VARCHAR, last_all VARCHAR, flips_all BIGINT NOT NULL,     -- env failures as F
        fixed_sequence VARCHAR NOT NULL,   -- declared-order first runs, P/F by repetition
        shuffled_sequence VARCHAR NOT NULL,
        later_failed BIGINT NOT NULL,      -- failing runs after the first in a process
        self_polluted BIGINT NOT NULL,     -- processes whose first run passed, a later failed
        PRIMARY KEY (session_id, nodeid)
    );
    CREATE TABLE IF NOT EXISTS signature_summaries (
        session_id VARCHAR NOT NULL,
        nodeid VARCHAR NOT NULL,
        signature VARCHAR NOT NULL,
        environment BOOLEAN NOT NULL,      -- environment failures (network, DNS) apart
        count BIGINT NOT NULL,             -- failing executions, not infra
        error_type VARCHAR,                -- of the first
        first_repetition INTEGER, first_started TIMESTAMPTZ,
        last_repetition INTEGER, last_started TIMESTAMPTZ,
        example VARCHAR,                   -- the first one's message and traceback (bounded)
        example_traceback VARCHAR
    );
    CREATE TABLE IF NOT EXISTS repetition_summaries (
        session_id VARCHAR NOT NULL,
        repetition INTEGER NOT NULL,
        executions BIGINT NOT NULL,
        failing BIGINT NOT NULL,           -- failing, flagged neither infra nor environment
        PRIMARY KEY (session_id, repetition)
    );
    CREATE TABLE IF NOT EXISTS duration_bins (
        session_id VARCHAR NOT NULL,
        nodeid VARCHAR NOT NULL,
        measured BOOLEAN NOT NULL,         -- false: the call less containers; true: the
                                           -- call as measured, kept only where it differs
        bin INTEGER NOT NULL,              -- round(ln(seconds) * 20); -1000000: zero
        n BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS summarised_sessions (
        session_id VARCHAR PRIMARY KEY,
        repetitions BIGINT NOT NULL,       -- repetitions stored when it was summarised
        summarised_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
"""


def _bin(value: str) -> str:
    return (
        f"CASE WHEN {value} <= 1e-6 THEN {ZERO_BIN} "
        f"ELSE round(ln({value}) * {BINS_PER_E})::INTEGER END"
    )


def _flips(seq: str) -> str:
    """Every "PF" or "FP" in a P/F string is one flip."""
    return (
        f"(2 * length({seq}) - length(replace({seq}, 'PF', '')) "
        f"- length(replace({seq}, 'FP', ''))) // 2"
    )


def summary_select(ids_param: str) -> str:
    """The summaries of the sessions in `$<ids_param>`, computed from their executions."""
    letter = f"CASE WHEN outcome IN {FAILING} THEN 'F' ELSE 'P' END"
    return f"""
    WITH base AS (
        SELECT e.session_id, e.nodeid, e.repetition, e.started_at AS e_start, e.outcome,
               {INFRA} AS is_infra,
               NOT {INFRA} AND {ENVIRONMENT} AS is_env,
               coalesce(e.setup_s, 0) + coalesce(e.call_s, 0) + coalesce(e.teardown_s, 0)
                   AS spent_s,
               coalesce(e.setup_container_s, 0) + coalesce(e.call_container_s, 0) AS cont_s,
               e.call_s - coalesce(e.call_container_s, 0) AS own_call_s, e.call_s,
               NOT {INFRA} AND NOT {ENVIRONMENT} AND e.outcome <> 'skipped'
                   AND e.call_s IS NOT NULL AS is_timed,
               coalesce(e.attempt, 1) AS attempt, r.seed IS NOT NULL AS shuffled,
               e.outcome IN {DECIDED} AS decided
        FROM executions e
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.session_id = ANY(${ids_param}::VARCHAR[])
    ),
    runs AS (  -- what the causes read: decided, neither infra nor environment
        SELECT * FROM base WHERE decided AND NOT is_infra AND NOT is_env
    ),
    polluted AS (
        SELECT f.session_id, f.nodeid, count(DISTINCT f.repetition) AS n
        FROM runs f
        JOIN (SELECT DISTINCT session_id, nodeid, repetition FROM runs
              WHERE attempt > 1 AND outcome IN {FAILING}) l
          ON l.session_id = f.session_id AND l.nodeid = f.nodeid AND l.repetition = f.repetition
        WHERE f.attempt = 1 AND f.outcome NOT IN {FAILING}
        GROUP BY ALL
    ),
    agg AS (
        SELECT session_id, nodeid,
            count(*) AS executions,
            count(*) FILTER (WHERE is_infra) AS infra,
            count(*) FILTER (WHERE NOT is_infra AND NOT is_env AND outcome = 'passed')
                AS passed,
            count(*) FILTER (WHERE NOT is_infra AND NOT is_env AND outcome IN {FAILED})
                AS failed,
            count(*) FILTER (WHERE NOT is_infra AND NOT is_env AND outcome = 'error') AS errors,
            count(*) FILTER (WHERE NOT is_infra AND NOT is_env AND outcome = 'timeout')
                AS timeouts,
            count(*) FILTER (WHERE NOT is_infra AND NOT is_env AND outcome = 'skipped')
                AS skipped,
            count(*) FILTER (WHERE NOT is_infra AND NOT is_env AND outcome = 'xfailed')
                AS xfailed,
            count(*) FILTER (WHERE NOT is_infra AND NOT is_env AND outcome = 'xpassed')
                AS xpassed,
            count(*) FILTER (WHERE is_env AND outcome IN {FAILED}) AS env_failed,
            count(*) FILTER (WHERE is_env AND outcome = 'error') AS env_errors,
            count(*) FILTER (WHERE is_env AND outcome = 'timeout') AS env_timeouts,
            coalesce(sum(spent_s) FILTER (WHERE NOT is_infra AND NOT is_env), 0) AS total_s,
            coalesce(sum(spent_s) FILTER (WHERE is_env), 0) AS env_total_s,
            coalesce(sum(cont_s) FILTER (WHERE NOT is_infra AND NOT is_env), 0) AS container_s,
            coalesce(sum(cont_s) FILTER (WHERE is_env), 0) AS env_container_s,
            count(*) FILTER (WHERE is_timed) AS timed,
            max(own_call_s) FILTER (WHERE is_timed) AS max_call_s,
            coalesce(bool_or(call_s <> own_call_s) FILTER (WHERE is_timed), false)
                AS measured_differs,
            coalesce(string_agg({letter}, '' ORDER BY repetition, e_start)
                FILTER (WHERE decided AND NOT is_infra AND NOT is_env), '') AS seq_main,
            coalesce(string_agg({letter}, '' ORDER BY repetition, e_start)
                FILTER (WHERE decided AND NOT is_infra), '') AS seq_all,
            coalesce(string_agg({letter}, '' ORDER BY repetition)
                FILTER (WHERE decided AND NOT is_infra AND NOT is_env AND attempt = 1
                        AND NOT shuffled), '') AS fixed_sequence,
            coalesce(string_agg({letter}, '' ORDER BY repetition)
                FILTER (WHERE decided AND NOT is_infra AND NOT is_env AND attempt = 1
                        AND shuffled), '') AS shuffled_sequence,
            count(*) FILTER (WHERE decided AND NOT is_infra AND NOT is_env AND attempt > 1
                             AND outcome IN {FAILING}) AS later_failed
        FROM base GROUP BY session_id, nodeid
    )
    SELECT a.session_id, a.nodeid, a.executions, a.infra, a.passed, a.failed, a.errors,
        a.timeouts, a.skipped, a.xfailed, a.xpassed, a.env_failed, a.env_errors,
        a.env_timeouts, a.total_s, a.env_total_s, a.container_s, a.env_container_s, a.timed,
        a.max_call_s, a.measured_differs,
        nullif(left(a.seq_main, 1), '') AS first_main, nullif(right(a.seq_main, 1), '')
            AS last_main, {_flips("a.seq_main")} AS flips_main,
        nullif(left(a.seq_all, 1), '') AS first_all, nullif(right(a.seq_all, 1), '')
            AS last_all, {_flips("a.seq_all")} AS flips_all,
        a.fixed_sequence, a.shuffled_sequence, a.later_failed,
        coalesce(p.n, 0) AS self_polluted
    FROM agg a LEFT JOIN polluted p ON p.session_id = a.session_id AND p.nodeid = a.nodeid
    """


def signature_select(ids_param: str) -> str:
    """Per session, test and failure signature: the failing, non-infra executions."""
    order = "e.repetition, e.started_at"
    return f"""
    SELECT e.session_id, e.nodeid, {SIGNATURE} AS signature,
        {ENVIRONMENT} AS environment, count(*) AS count,
        first(e.error_type ORDER BY {order}) AS error_type,
        first(e.repetition ORDER BY {order}) AS first_repetition,
        first(e.started_at ORDER BY {order}) AS first_started,
        last(e.repetition ORDER BY {order}) AS last_repetition,
        last(e.started_at ORDER BY {order}) AS last_started,
        first(left(coalesce(e.message, ''), {EXAMPLE_CHARS}) ORDER BY {order}) AS example,
        first(left(e.traceback, {EXAMPLE_CHARS}) ORDER BY {order}) AS example_traceback
    FROM executions e
    LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
    WHERE e.session_id = ANY(${ids_param}::VARCHAR[]) AND e.outcome IN {FAILING} AND NOT {INFRA}
    GROUP BY ALL
    """


def repetition_select(ids_param: str) -> str:
    """Per repetition: its executions, and its failures that make it red."""
    return f"""
    SELECT session_id, repetition, count(*) AS executions,
        count(*) FILTER (WHERE outcome IN {FAILING} AND NOT coalesce(infra, false)
                         AND NOT coalesce(environment, false)) AS failing
    FROM executions WHERE session_id = ANY(${ids_param}::VARCHAR[])
    GROUP BY ALL
    """


def bins_select(ids_param: str) -> str:
    """Per session and test, the timed calls by log bin: less containers, and as measured
    where that differs."""
    return f"""
    WITH timed AS (
        SELECT e.session_id, e.nodeid, e.call_s,
               e.call_s - coalesce(e.call_container_s, 0) AS own_call_s
        FROM executions e
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.session_id = ANY(${ids_param}::VARCHAR[])
          AND NOT {INFRA} AND NOT {ENVIRONMENT} AND e.outcome <> 'skipped'
          AND e.call_s IS NOT NULL
    ),
    differs AS (
        SELECT session_id, nodeid FROM timed GROUP BY ALL HAVING bool_or(call_s <> own_call_s)
    )
    SELECT session_id, nodeid, false AS measured, {_bin("own_call_s")} AS bin, count(*) AS n
    FROM timed GROUP BY ALL
    UNION ALL
    SELECT session_id, nodeid, true, {_bin("call_s")}, count(*)
    FROM timed SEMI JOIN differs USING (session_id, nodeid) GROUP BY ALL
    """


# Each summary table and the query computing its rows from the executions.
SELECTS = {
    "test_summaries": summary_select,
    "signature_summaries": signature_select,
    "repetition_summaries": repetition_select,
    "duration_bins": bins_select,
}


def refresh(conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str] | None = None) -> None:
    """(Re)write the summaries of the sessions (every session when None), in the caller's
    transaction."""
    if session_ids is None:
        session_ids = [r[0] for r in conn.execute("SELECT id FROM sessions").fetchall()]
    ids = list(dict.fromkeys(session_ids))
    for start in range(0, len(ids), BATCH_SESSIONS):
        batch = {"ids": ids[start : start + BATCH_SESSIONS]}
        for table in (*SELECTS, "summarised_sessions"):
            conn.execute(f"DELETE FROM {table} WHERE session_id = ANY($ids::VARCHAR[])", batch)
        for table, select in SELECTS.items():
            conn.execute(f"INSERT INTO {table} {select('ids')}", batch)
        conn.execute(
            """
            INSERT INTO summarised_sessions (session_id, repetitions)
            SELECT s.id, (SELECT count(*) FROM repetitions r WHERE r.session_id = s.id)
            FROM sessions s WHERE s.id = ANY($ids::VARCHAR[])
            """,
            batch,
        )


def backfill(conn: duckdb.DuckDBPyConnection) -> None:
    """The migration to schema 8: the tables, and the summaries of every stored session.

    Batch by batch under a memory limit (what does not fit is spilled next to the file):
    a year of history upgrades in a bounded footprint."""
    conn.execute(DDL)
    limit = conn.execute("SELECT current_setting('memory_limit')").fetchone()
    conn.execute(f"SET memory_limit = '{BACKFILL_MEMORY}'")
    try:
        refresh(conn)
    finally:
        if limit:
            conn.execute(f"SET memory_limit = '{limit[0]}'")


def mark_stale(conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str]) -> None:
    """The sessions' summaries no longer hold every repetition: readers summarise them
    on the fly until `refresh`."""
    conn.execute(
        "DELETE FROM summarised_sessions WHERE session_id = ANY($ids::VARCHAR[])",
        {"ids": list(session_ids)},
    )


def stale_sessions(conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str]) -> list[str]:
    """Of the sessions, those without a summary of all their stored repetitions."""
    rows = conn.execute(
        """
        WITH reps AS (
            SELECT session_id, count(*) AS n FROM repetitions
            WHERE session_id = ANY($ids::VARCHAR[]) GROUP BY session_id
        )
        SELECT s.id FROM (SELECT unnest($ids::VARCHAR[]) AS id) s
        LEFT JOIN reps ON reps.session_id = s.id
        LEFT JOIN summarised_sessions m ON m.session_id = s.id
        WHERE m.session_id IS NULL OR m.repetitions <> coalesce(reps.n, 0)
        """,
        {"ids": list(session_ids)},
    ).fetchall()
    return [r[0] for r in rows]
