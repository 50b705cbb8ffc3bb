"""Read-only queries for the analysis: choose a scope, then load its tallies.

A scope is a set of sessions: the last one by default, or `--session ID` (a unique
prefix will do), or every session matching `--label`, `--since` and `--commit`
together. Heavy lifting (per-test counts, percentiles, flips, signatures) runs in
DuckDB, so a history of millions of executions never comes into Python whole; the
meaning of every number is defined by `stability.analysis.aggregate`, which the tests
hold this SQL to.
"""

from stability.store.queries.causes import (
    FailingOrder,
    cause_evidence,
    diagnoses,
    failing_order,
    last_session_failing,
)
from stability.store.queries.charts import call_durations, grid_cells, grid_columns, trend
from stability.store.queries.leftovers import leftover_rows, leftover_summaries
from stability.store.queries.logs import container_logs, repetitions_with_logs
from stability.store.queries.per_test import tally_tests
from stability.store.queries.scope import (
    Scope,
    count_sessions,
    list_sessions,
    previous_comparable,
    resolve_scope,
)
from stability.store.queries.summary import RunCounts, run_counts
from stability.store.queries.tallies import (
    baseline_p50,
    container_starts,
    executions,
    find_nodeids,
    repetitions,
    tally_signatures,
)

__all__ = [
    "FailingOrder",
    "RunCounts",
    "Scope",
    "baseline_p50",
    "call_durations",
    "cause_evidence",
    "container_logs",
    "container_starts",
    "count_sessions",
    "diagnoses",
    "executions",
    "failing_order",
    "find_nodeids",
    "grid_cells",
    "grid_columns",
    "last_session_failing",
    "leftover_rows",
    "leftover_summaries",
    "list_sessions",
    "previous_comparable",
    "repetitions",
    "repetitions_with_logs",
    "resolve_scope",
    "run_counts",
    "tally_signatures",
    "tally_tests",
    "trend",
]
