"""The end-of-run summary's numbers for one session (resumed parts included)."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from stability.analysis.models import TestCounts
from stability.store.queries.per_test import tally_tests


@dataclass(frozen=True)
class RunCounts:
    repetitions: dict[str, int]  # by status
    outcomes: dict[str, int]  # executions by outcome
    tests: list[TestCounts]  # the per-test tallies the reports use
    # (status, error, repetitions, first number) of the infra / crashed / timed-out ones
    problems: list[tuple[str, str | None, int, int]] = field(default_factory=list)


def run_counts(conn: duckdb.DuckDBPyConnection, session_id: str) -> RunCounts:
    reps = conn.execute(
        "SELECT status, count(*) FROM repetitions WHERE session_id = ? GROUP BY status",
        [session_id],
    ).fetchall()
    outcomes = conn.execute(
        "SELECT outcome, count(*) FROM executions WHERE session_id = ? GROUP BY outcome",
        [session_id],
    ).fetchall()
    problems = conn.execute(
        "SELECT status, error, count(*), min(number) FROM repetitions WHERE session_id = ? "
        "AND status IN ('infra', 'environment', 'crashed', 'timeout') GROUP BY status, error "
        "ORDER BY min(number) LIMIT 5",
        [session_id],
    ).fetchall()
    return RunCounts(
        repetitions={str(k): int(v) for k, v in reps},
        outcomes={str(k): int(v) for k, v in outcomes},
        tests=tally_tests(conn, [session_id]),
        problems=[(str(s), e, int(n), int(first)) for s, e, n, first in problems],
    )
