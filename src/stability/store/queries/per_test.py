"""Per-test tallies of a scope from the per-session summaries (`store.summaries`).

The work is proportional to sessions x tests, not to executions: a year of nightly
campaigns is a few hundred thousand summary rows however many repetitions each ran.
The rules that need the whole scope are applied here: a test whose every failure is an
environment failure has them counted apart; flips include the changes between one
session's last decided outcome and the next one's first; pass-and-fail on one commit
groups sessions by commit.

Call-phase p50 and p95 are exact (DuckDB's `quantile_cont` over the executions) while the
scope has at most `EXACT_LIMIT` timed executions; beyond, they come from the summaries'
log-binned histograms, within `summaries.BIN_ERROR` of the exact value, and every
`TestCounts` says so (`binned`). The maximum is always exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import duckdb

from stability.analysis.models import TestCounts
from stability.store import summaries  # a module: it imports `_sql` of this package
from stability.store.queries._sql import ENVIRONMENT, INFRA

# Timed executions in scope up to which the duration quantiles are exact.
EXACT_LIMIT = 2_000_000
# The columns of `test_summaries` the per-test tallies read (not the sequences).
TALLIED = """session_id, nodeid, executions, infra, passed, failed, errors, timeouts, skipped,
    xfailed, xpassed, env_failed, env_errors, env_timeouts, total_s, env_total_s, container_s,
    env_container_s, timed, max_call_s, measured_differs, first_main, last_main, flips_main,
    first_all, last_all, flips_all"""


def summaries_cte(
    conn: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    extra: str = "",
    *,
    table: str = "test_summaries",
    name: str = "sm",
    columns: str = "*",
) -> str:
    """`<name> AS (...)`: the rows of summary `table` for the sessions in `$ids` (`extra`:
    a filter on them), those stored and, for a session stored without a summary of all
    its repetitions, computed from its executions. Sets `$stale` in `params`. Name only
    the `columns` a query reads: a CTE read twice is materialised whole."""
    stale = params.setdefault("stale", summaries.stale_sessions(conn, params["ids"]))
    if not stale:  # a semi-join: faster than a list filter over millions of rows
        return f"""{name} AS (
            SELECT {columns} FROM {table} WHERE session_id IN (SELECT unnest($ids::VARCHAR[]))
              AND cardinality($stale::VARCHAR[]) = 0 {extra}
        )"""
    stored = f"""
        SELECT {columns} FROM {table}
        WHERE session_id IN (SELECT unnest($ids::VARCHAR[]))
          AND NOT list_contains($stale::VARCHAR[], session_id) {extra}
    """
    computed = f"SELECT {columns} FROM ({summaries.SELECTS[table]('stale')}) WHERE true {extra}"
    return f"{name} AS ({stored} UNION ALL BY NAME {computed})"


def tally_tests(
    conn: duckdb.DuckDBPyConnection,
    session_ids: Sequence[str],
    nodeid: str | None = None,
    *,
    exact_limit: int = EXACT_LIMIT,
) -> list[TestCounts]:
    """`aggregate.count_tests` in SQL: one row per test in the sessions, by nodeid."""
    params: dict[str, Any] = {"ids": list(session_ids)}
    extra = ""
    if nodeid is not None:
        extra = "AND nodeid = $nodeid"
        params["nodeid"] = nodeid
    sm = summaries_cte(conn, params, extra, columns=TALLIED)
    rows = conn.execute(
        f"""
        WITH {sm},
        ses AS (
            SELECT id, coalesce(git_commit, 'session:' || id) AS grp,
                   row_number() OVER (ORDER BY started_at, id) AS k
            FROM sessions WHERE id = ANY($ids::VARCHAR[])
        ),
        env AS (
            SELECT nodeid, sum(env_failed + env_errors) > 0 AND sum(failed + errors) = 0
                AS env_only
            FROM sm GROUP BY nodeid
        ),
        j AS (
            SELECT sm.*, ses.k, ses.grp, env.env_only,
                failed + CASE WHEN env_only THEN 0 ELSE env_failed END AS failed_n,
                errors + CASE WHEN env_only THEN 0 ELSE env_errors END AS errors_n,
                timeouts + CASE WHEN env_only THEN 0 ELSE env_timeouts END AS timeouts_n,
                CASE WHEN env_only THEN env_failed + env_errors ELSE 0 END AS environment_n,
                total_s + CASE WHEN env_only THEN 0 ELSE env_total_s END AS total_n,
                container_s + CASE WHEN env_only THEN 0 ELSE env_container_s END AS cont_n,
                CASE WHEN env_only THEN first_main ELSE first_all END AS f1,
                CASE WHEN env_only THEN last_main ELSE last_all END AS l1,
                CASE WHEN env_only THEN flips_main ELSE flips_all END AS fl
            FROM sm JOIN env USING (nodeid) JOIN ses ON ses.id = sm.session_id
        ),
        crossings AS (
            SELECT nodeid, count(*) FILTER (WHERE prev IS NOT NULL AND prev <> f1) AS n
            FROM (
                SELECT nodeid, f1, lag(l1) OVER (PARTITION BY nodeid ORDER BY k) AS prev
                FROM j WHERE f1 IS NOT NULL
            ) GROUP BY nodeid
        ),
        mixed AS (
            SELECT nodeid, bool_or(p > 0 AND f > 0) AS mixed FROM (
                SELECT nodeid, grp, sum(passed) AS p, sum(failed_n + errors_n) AS f
                FROM j GROUP BY nodeid, grp
            ) GROUP BY nodeid
        )
        SELECT j.nodeid, sum(executions)::BIGINT, sum(passed)::BIGINT, sum(failed_n)::BIGINT,
            sum(errors_n)::BIGINT, sum(timeouts_n)::BIGINT, sum(skipped)::BIGINT,
            sum(xfailed)::BIGINT, sum(xpassed)::BIGINT, sum(infra)::BIGINT,
            sum(environment_n)::BIGINT, max(max_call_s), sum(total_n), sum(cont_n),
            sum(timed)::BIGINT, (sum(fl) + coalesce(any_value(c.n), 0))::BIGINT,
            coalesce(bool_or(m.mixed), false), bool_or(measured_differs)
        FROM j LEFT JOIN crossings c USING (nodeid) LEFT JOIN mixed m USING (nodeid)
        GROUP BY j.nodeid ORDER BY j.nodeid
        """,
        params,
    ).fetchall()
    timed = sum(int(r[14]) for r in rows)
    binned = timed > exact_limit
    if binned:
        differing = [r[0] for r in rows if r[17]]
        quantiles = _binned_quantiles(conn, {**params, "extra": extra}, sm, differing)
    else:
        quantiles = _exact_quantiles(conn, params)
    result = []
    for r in rows:
        p50, p95, gross_p95 = quantiles.get(r[0], (None, None, None))
        if binned and r[11] is not None:  # a bin's middle may lie past the exact maximum
            p50, p95 = (min(v, r[11]) if v is not None else None for v in (p50, p95))
        result.append(
            TestCounts(
                nodeid=r[0],
                executions=int(r[1]),
                passed=int(r[2]),
                failed=int(r[3]),
                errors=int(r[4]),
                timeouts=int(r[5]),
                skipped=int(r[6]),
                xfailed=int(r[7]),
                xpassed=int(r[8]),
                infra=int(r[9]),
                environment=int(r[10]),
                p50_s=p50,
                p95_s=p95,
                max_s=r[11],
                total_s=float(r[12] or 0.0),
                container_s=float(r[13] or 0.0),
                p95_with_containers_s=gross_p95,
                flips=int(r[15]),
                mixed_on_one_commit=bool(r[16]),
                binned=binned and r[11] is not None,
            )
        )
    return result


Quantiles = dict[str, tuple[float | None, float | None, float | None]]


def _exact_quantiles(conn: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> Quantiles:
    extra = "AND e.nodeid = $nodeid" if "nodeid" in params else ""
    names = {k: v for k, v in params.items() if k in ("ids", "nodeid")}
    rows = conn.execute(
        f"""
        SELECT e.nodeid,
            quantile_cont(e.call_s - coalesce(e.call_container_s, 0), [0.5, 0.95]),
            quantile_cont(e.call_s, 0.95)
        FROM executions e
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.session_id = ANY($ids::VARCHAR[]) {extra}
          AND NOT {INFRA} AND NOT {ENVIRONMENT} AND e.outcome <> 'skipped'
          AND e.call_s IS NOT NULL
        GROUP BY e.nodeid
        """,
        names,
    ).fetchall()
    return {r[0]: (r[1][0], r[1][1], r[2]) for r in rows}


def _binned_quantiles(
    conn: duckdb.DuckDBPyConnection, params: dict[str, Any], sm: str, differing: list[str]
) -> Quantiles:
    """p50 and p95 of the call less containers, p95 of the call as measured, from the
    merged bins: the middle of the bin holding the element `quantile_cont` starts from.
    A test whose calls never spent time in containers (not in `differing`) has one
    histogram for both."""
    extra = params.pop("extra", "")
    db = summaries_cte(
        conn,
        params,
        extra,
        table="duration_bins",
        name="db",
        columns="session_id, nodeid, measured, bin, n",
    )
    measured = "SELECT NULL::VARCHAR AS nodeid, NULL::INTEGER AS bin, NULL::BIGINT AS n LIMIT 0"
    if differing:
        params = {**params, "differing": differing}
        measured = """
            SELECT nodeid, bin, sum(n) AS n FROM (
                SELECT nodeid, bin, n FROM db WHERE measured
                UNION ALL
                SELECT db.nodeid, db.bin, db.n FROM db
                JOIN sm ON sm.session_id = db.session_id AND sm.nodeid = db.nodeid
                WHERE NOT db.measured AND NOT sm.measured_differs
                  AND list_contains($differing::VARCHAR[], db.nodeid)
            ) GROUP BY ALL
        """
    rows = conn.execute(
        f"""
        WITH {sm}, {db},
        own AS (SELECT nodeid, bin, sum(n) AS n FROM db WHERE NOT measured GROUP BY ALL),
        measured AS ({measured}),
        cum AS (
            SELECT nodeid, kind, bin,
                sum(n) OVER (PARTITION BY nodeid, kind ORDER BY bin
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
                sum(n) OVER (PARTITION BY nodeid, kind) AS total
            FROM (SELECT *, 'own' AS kind FROM own UNION ALL SELECT *, 'measured' FROM measured)
        )
        SELECT nodeid,
            min(bin) FILTER (WHERE kind = 'own' AND upto > floor(0.5 * (total - 1))),
            min(bin) FILTER (WHERE kind = 'own' AND upto > floor(0.95 * (total - 1))),
            min(bin) FILTER (WHERE kind = 'measured' AND upto > floor(0.95 * (total - 1)))
        FROM cum GROUP BY nodeid
        """,
        params,
    ).fetchall()

    def middle(b: int | None) -> float | None:
        if b is None:
            return None
        return 0.0 if b == summaries.ZERO_BIN else math.exp(b / summaries.BINS_PER_E)

    return {
        r[0]: (middle(r[1]), middle(r[2]), middle(r[3] if r[3] is not None else r[2])) for r in rows
    }
