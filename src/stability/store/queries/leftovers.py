"""What tests left behind in a scope (`executions.leftovers`), per test."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from stability.analysis.leftovers import LeftoverRow, LeftoverSummary, summarise
from stability.store.queries._sql import IN_SCOPE


def leftover_rows(
    conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str], nodeid: str | None = None
) -> list[LeftoverRow]:
    """Per test with leftovers: how many executions left some, and the latest one's."""
    extra = "AND e.nodeid = $nodeid" if nodeid is not None else ""
    params: dict[str, object] = {"ids": list(session_ids)}
    if nodeid is not None:
        params["nodeid"] = nodeid
    # stability.containers.leftovers.dumps writes sorted keys with the default separators
    rows = conn.execute(
        f"""
        SELECT e.nodeid, count(*),
               arg_max(e.leftovers, (s.started_at, e.repetition, e.started_at)),
               bool_or(e.leftovers LIKE '%"bypassed_transaction": true%'),
               bool_or(e.leftovers LIKE '%"late": true%')
        FROM executions e JOIN sessions s ON s.id = e.session_id
        WHERE e.{IN_SCOPE} AND e.leftovers IS NOT NULL {extra}
        GROUP BY e.nodeid ORDER BY e.nodeid
        """,
        params,
    ).fetchall()
    return [
        LeftoverRow(str(n), int(k), str(latest), bool(bypassed), bool(late))
        for n, k, latest, bypassed, late in rows
    ]


def leftover_summaries(
    conn: duckdb.DuckDBPyConnection, session_ids: Sequence[str]
) -> list[LeftoverSummary]:
    """The tests of the sessions that left state behind, most often first: what a
    polluter search ranks its candidates by (`analysis.leftovers.rank_polluter_candidates`)."""
    rows = leftover_rows(conn, session_ids)
    if not rows:
        return []
    counts = conn.execute(
        f"SELECT nodeid, count(*) FROM executions WHERE {IN_SCOPE} "
        "AND nodeid = ANY($nodeids::VARCHAR[]) GROUP BY nodeid",
        {"ids": list(session_ids), "nodeids": [r.nodeid for r in rows]},
    ).fetchall()
    return summarise(rows, {str(n): int(k) for n, k in counts})
