"""Whole tables of a scope as pandas DataFrames (DuckDB's `.df()`), for `stability.History`.

Built in DuckDB and handed over column-wise, so millions of executions never become
Python objects one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from stability.store.queries._sql import IN_SCOPE, INFRA

if TYPE_CHECKING:
    import pandas as pd


def executions_frame(
    conn: duckdb.DuckDBPyConnection,
    session_ids: Sequence[str],
    nodeid: str | None = None,
) -> pd.DataFrame:
    """One row per execution in the sessions, in chronological order.

    `infra` is the analysis's rule (the execution's flag, or its repetition could not
    start a container); timings are seconds per phase.
    """
    params: dict[str, Any] = {"ids": list(session_ids)}
    extra = ""
    if nodeid is not None:
        extra = "AND e.nodeid = $nodeid"
        params["nodeid"] = nodeid
    return conn.execute(
        f"""
        SELECT e.session_id, e.repetition, e.nodeid, e.file, e.outcome, e.phase,
               e.setup_s, e.call_s, e.teardown_s, e.started_at, {INFRA} AS infra,
               e.error_type, e.message, e.failure_signature,
               r.status AS repetition_status, r.shard, s.label, s.git_commit
        FROM executions e
        JOIN sessions s ON s.id = e.session_id
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.{IN_SCOPE} {extra}
        ORDER BY s.started_at, e.session_id, e.repetition, e.started_at, e.nodeid
        """,
        params,
    ).df()
