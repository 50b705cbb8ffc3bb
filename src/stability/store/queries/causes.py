"""The evidence for each flaky test's cause, and stored diagnoses (`analysis.causes`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from stability.analysis.causes import Diagnosis, Evidence
from stability.store.queries._sql import DECIDED, ENVIRONMENT, FAILING, INFRA
from stability.store.queries.per_test import summaries_cte

# First runs and later runs of the chosen tests in the sessions: decided, not infra, not
# an environment failure (an unreachable network says nothing about order or state).
_RUNS = f"""
    ses AS (
        SELECT id, row_number() OVER (ORDER BY started_at, id) AS k
        FROM sessions WHERE id = ANY($ids::VARCHAR[])
    ),
    runs AS (
        SELECT e.nodeid, e.session_id, e.repetition, coalesce(e.attempt, 1) AS attempt,
               e.position, e.outcome IN {FAILING} AS bad, r.seed IS NOT NULL AS shuffled, ses.k
        FROM executions e
        JOIN ses ON ses.id = e.session_id
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.nodeid = ANY($nodeids::VARCHAR[])
          AND e.outcome IN {DECIDED} AND NOT {INFRA} AND NOT {ENVIRONMENT}
    )
"""


def cause_evidence(
    conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str], nodeids: Sequence[str]
) -> dict[str, Evidence]:
    """Per test: first runs by order kind, later runs, the pass/fail sequence, suspects."""
    if not nodeids:
        return {}
    params: dict[str, Any] = {"ids": list(session_ids), "nodeids": list(nodeids)}
    summary_params = dict(params)
    sm = summaries_cte(
        conn,
        summary_params,
        "AND nodeid = ANY($nodeids::VARCHAR[])",
        columns="session_id, nodeid, fixed_sequence, shuffled_sequence, later_failed, "
        "self_polluted",
    )
    counts = conn.execute(
        f"""
        WITH {sm},
        ses AS (
            SELECT id, row_number() OVER (ORDER BY started_at, id) AS k
            FROM sessions WHERE id = ANY($ids::VARCHAR[])
        )
        SELECT nodeid,
            sum(length(replace(fixed_sequence, 'F', ''))),
            sum(length(replace(fixed_sequence, 'P', ''))),
            sum(length(replace(shuffled_sequence, 'F', ''))),
            sum(length(replace(shuffled_sequence, 'P', ''))),
            sum(later_failed),
            string_agg(fixed_sequence, '' ORDER BY k),
            string_agg(shuffled_sequence, '' ORDER BY k),
            sum(self_polluted)
        FROM sm JOIN ses ON ses.id = sm.session_id
        GROUP BY nodeid
        HAVING sum(length(fixed_sequence) + length(shuffled_sequence) + later_failed) > 0
        """,
        summary_params,
    ).fetchall()
    polluted = {r[0]: int(r[8]) for r in counts}
    # Who ran before each test in its shuffled orders, split by the test's outcome (read
    # from the executions: only when the scope has shuffled repetitions).
    shuffled = any(r[3] or r[4] for r in counts)
    before = (
        []
        if not shuffled
        else conn.execute(
            f"""
        WITH {_RUNS},
        victims AS (
            SELECT * FROM runs WHERE attempt = 1 AND shuffled AND position IS NOT NULL
        )
        SELECT v.nodeid, o.nodeid,
               count(*) FILTER (WHERE v.bad), count(*) FILTER (WHERE NOT v.bad)
        FROM victims v
        JOIN executions o ON o.session_id = v.session_id AND o.repetition = v.repetition
             AND coalesce(o.attempt, 1) = 1 AND o.position < v.position AND o.nodeid <> v.nodeid
        GROUP BY ALL ORDER BY 1, 2
        """,
            params,
        ).fetchall()
    )
    seen: dict[str, int] = {}
    separating: dict[str, list[tuple[str, int, int]]] = {}
    for victim, other, before_fail, before_pass in before:
        seen[victim] = seen.get(victim, 0) + 1
        separating.setdefault(victim, []).append((other, int(before_fail), int(before_pass)))
    result = {}
    for nodeid, fp, ff, sp, sf, later, fixed_seq, shuffled_seq, _ in counts:
        suspects = tuple(
            other for other, bf, bp in separating.get(nodeid, []) if sf and bf == sf and bp == 0
        )
        result[nodeid] = Evidence(
            nodeid=nodeid,
            fixed_passed=int(fp),
            fixed_failed=int(ff),
            shuffled_passed=int(sp),
            shuffled_failed=int(sf),
            later_failed=int(later),
            self_polluted=int(polluted.get(nodeid, 0)),
            fixed_sequence=str(fixed_seq),
            shuffled_sequence=str(shuffled_seq),
            suspects=suspects,
            candidates=seen.get(nodeid, 0),
        )
    return result


def diagnoses(conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str]) -> dict[str, Diagnosis]:
    """The latest diagnosis of each test in the sessions."""
    rows = conn.execute(
        """
        SELECT session_id, nodeid, verdict, polluters, failing_order, failing_command,
               passing_command, probes, probe_session
        FROM diagnoses WHERE session_id = ANY($ids::VARCHAR[])
        QUALIFY row_number() OVER (PARTITION BY nodeid ORDER BY created_at DESC) = 1
        """,
        {"ids": list(session_ids)},
    ).fetchall()
    return {
        r[1]: Diagnosis(
            session_id=r[0],
            nodeid=r[1],
            verdict=r[2],
            polluters=tuple(r[3] or ()),
            failing_order=tuple(r[4] or ()),
            failing_command=r[5],
            passing_command=r[6],
            probes=int(r[7] or 0),
            probe_session=r[8],
        )
        for r in rows
    }


@dataclass(frozen=True)
class FailingOrder:
    """A repetition in which a test failed, and the tests that ran before it there."""

    session_id: str
    repetition: int
    nodeid: str
    before: tuple[str, ...]  # in the order they started
    seed: int | None
    targets: tuple[str, ...]
    pytest_args: tuple[str, ...]
    cwd: str | None
    likely: tuple[str, ...] = ()  # of `before`, the likeliest polluters: tried first


def failing_order(
    conn: duckdb.DuckDBPyConnection, session_id: str, nodeid: str
) -> FailingOrder | None:
    """The latest repetition of the session where the test's first run failed (not infra),
    with its recorded order; None when it never failed there with an order recorded."""
    found = conn.execute(
        f"""
        SELECT e.repetition, e.position, r.seed
        FROM executions e
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.session_id = $session AND e.nodeid = $nodeid AND coalesce(e.attempt, 1) = 1
          AND e.outcome IN {FAILING} AND NOT {INFRA} AND NOT {ENVIRONMENT}
          AND e.position IS NOT NULL
        ORDER BY r.seed IS NULL, e.repetition DESC LIMIT 1
        """,
        {"session": session_id, "nodeid": nodeid},
    ).fetchone()
    if found is None:
        return None
    repetition, position, seed = found
    before = conn.execute(
        """
        SELECT nodeid FROM executions
        WHERE session_id = $session AND repetition = $rep AND coalesce(attempt, 1) = 1
          AND position < $position AND nodeid <> $nodeid
        ORDER BY position
        """,
        {"session": session_id, "rep": repetition, "position": position, "nodeid": nodeid},
    ).fetchall()
    session = conn.execute(
        "SELECT targets, options, cwd FROM sessions WHERE id = ?", [session_id]
    ).fetchone()
    assert session is not None
    options = json.loads(session[1]) if session[1] else {}
    return FailingOrder(
        session_id=session_id,
        repetition=int(repetition),
        nodeid=nodeid,
        before=tuple(dict.fromkeys(r[0] for r in before)),
        seed=seed,
        targets=tuple(session[0] or ()),
        pytest_args=tuple(options.get("pytest_args") or ()),
        cwd=session[2],
    )


def last_session_failing(conn: duckdb.DuckDBPyConnection, nodeid: str) -> str | None:
    """The latest (non-diagnose) session in which the test's first run failed."""
    row = conn.execute(
        f"""
        SELECT s.id FROM sessions s
        WHERE coalesce(s.kind, 'run') <> 'diagnose' AND EXISTS (
            SELECT 1 FROM executions e
            LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
            WHERE e.session_id = s.id AND e.nodeid = $nodeid AND coalesce(e.attempt, 1) = 1
              AND e.outcome IN {FAILING} AND NOT {INFRA} AND e.position IS NOT NULL)
        ORDER BY s.started_at DESC, s.id DESC LIMIT 1
        """,
        {"nodeid": nodeid},
    ).fetchone()
    return str(row[0]) if row else None
