"""Gather a report: query the store for a scope, run the analysis, return plain data.

The database is open only inside `build_report` (read-only), so a campaign that is
writing can carry on as soon as the numbers are loaded; rendering happens afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stability.analysis.causes import Evidence
from stability.analysis.leftovers import LeftoverSummary, summarise
from stability.analysis.models import (
    ContainerStart,
    SessionInfo,
    SuiteStats,
    TestStats,
    TrendPoint,
)
from stability.analysis.per_test import (
    DEFAULT_SLOW_THRESHOLD_S,
    DEFAULT_TARGET,
    analyse_tests,
    with_causes,
)
from stability.analysis.pooling import pool
from stability.analysis.suite import STARTUP_TARGET_S, suite_stats
from stability.exceptions import StabilityError
from stability.store import queries
from stability.store.db import connect

if TYPE_CHECKING:
    from stability.store.db import Connection


@dataclass(frozen=True)
class ReportOptions:
    target: float = DEFAULT_TARGET
    slow_threshold_s: float = DEFAULT_SLOW_THRESHOLD_S
    startup_target_s: float = STARTUP_TARGET_S
    charts: bool = False  # load the extracts only the HTML report draws
    grid_tests: int = 40  # outcome grid: the worst tests ...
    grid_repetitions: int = 200  # ... by the latest repetitions
    slowest_tests: int = 12  # duration chart
    duration_samples: int = 500  # per test, latest first
    startup_samples: int = 2000  # per service, latest first
    trend_sessions: int = 30


@dataclass(frozen=True)
class OutcomeGrid:
    """Tests (rows) by repetitions (columns); a cell is an outcome, `infra`, or '' (not run)."""

    nodeids: tuple[str, ...]
    columns: tuple[tuple[str, int], ...]  # (session id, repetition number)
    cells: tuple[tuple[str, ...], ...]
    total_tests: int
    total_repetitions: int


@dataclass(frozen=True)
class Report:
    db_path: Path
    scope: str
    sessions: tuple[SessionInfo, ...]
    baseline: SessionInfo | None
    options: ReportOptions
    tests: tuple[TestStats, ...]
    suite: SuiteStats
    trend: tuple[TrendPoint, ...] = ()
    grid: OutcomeGrid | None = None
    durations: dict[str, list[float]] = field(default_factory=dict)
    startups: dict[str, list[float]] = field(default_factory=dict)
    leftovers: tuple[LeftoverSummary, ...] = ()  # tests that left state behind
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    left_out: tuple[SessionInfo, ...] = ()  # in scope, but run under other conditions


def build_report(
    db_path: Path, scope: queries.Scope, options: ReportOptions | None = None
) -> Report:
    options = options or ReportOptions()
    with connect(db_path, "read") as conn:
        pooled = pool(queries.resolve_scope(conn, scope, str(db_path)), scope.pool_all)
        sessions = list(pooled.sessions)
        ids = [s.id for s in sessions]
        baseline, tests = analyse_scope(conn, sessions, scope, options, pooled.left_out)
        reps = queries.repetitions(conn, ids)
        starts = queries.container_starts(conn, ids)
        trend = queries.trend(conn, sessions[-1], options.trend_sessions)
        leftovers = summarise(
            queries.leftover_rows(conn, ids), {t.nodeid: t.counts.executions for t in tests}
        )
        suite = suite_stats(tests, reps, starts, startup_target_s=options.startup_target_s)
        grid = None
        durations: dict[str, list[float]] = {}
        if options.charts:
            chosen = grid_tests(tests, options.grid_tests)
            columns = queries.grid_columns(conn, ids, options.grid_repetitions)
            cells = queries.grid_cells(conn, columns, chosen)
            grid = outcome_grid(chosen, columns, cells, len(tests), len(reps))
            slowest = sorted(
                (t for t in tests if t.counts.p95_s is not None),
                key=lambda t: -(t.counts.p95_s or 0.0),
            )[: options.slowest_tests]
            durations = queries.call_durations(
                conn, ids, [t.nodeid for t in slowest], options.duration_samples
            )
    return Report(
        db_path=db_path,
        scope=scope.describe(),
        sessions=tuple(sessions),
        baseline=baseline,
        options=options,
        tests=tuple(tests),
        suite=suite,
        trend=tuple(trend),
        grid=grid,
        durations=durations,
        startups=_startup_samples(starts, options.startup_samples) if options.charts else {},
        left_out=pooled.left_out,
        leftovers=tuple(leftovers),
    )


def analyse_scope(
    conn: Connection,
    sessions: list[SessionInfo],
    scope: queries.Scope,
    options: ReportOptions,
    other_conditions: Sequence[SessionInfo] = (),
) -> tuple[SessionInfo | None, list[TestStats]]:
    """The per-test table of a scope (worst first) and the baseline its slow-downs use:
    what every report, `check` and `stability.History.tests()` show.

    Rates pool only `sessions` (run under like conditions); a cause compares conditions
    (fixed order against shuffled, one run against several in a process), so its evidence
    also reads the scope's sessions run under `other_conditions`."""
    ids = [s.id for s in sessions]
    baseline = queries.previous_comparable(conn, sessions)
    base_p50 = queries.baseline_p50(conn, baseline.id) if baseline else {}
    counts = queries.tally_tests(conn, ids)
    if not counts:
        running = [s.id for s in sessions if s.status == "running"]
        hint = f" (session {running[-1]} is still running)" if running else ""
        raise StabilityError(f"no test executions in {scope.describe()} yet{hint}")
    signatures = queries.tally_signatures(conn, ids)
    tests = analyse_tests(
        counts,
        target=options.target,
        slow_threshold_s=options.slow_threshold_s,
        baseline_p50=base_p50,
        signatures=signatures,
    )
    return baseline, load_causes(conn, ids + [s.id for s in other_conditions], tests)


def load_causes(
    conn: Connection, session_ids: list[str], tests: list[TestStats]
) -> list[TestStats]:
    """The flaky tests with their causes, from their evidence and stored diagnoses."""
    flaky = [t.nodeid for t in tests if t.status == "flaky"]
    if not flaky:
        return tests
    evidence = queries.cause_evidence(conn, session_ids, flaky)
    found = queries.diagnoses(conn, session_ids)
    evidence = {n: replace(evidence.get(n) or Evidence(n), diagnosis=found.get(n)) for n in flaky}
    return with_causes(tests, evidence)


def grid_tests(tests: list[TestStats], limit: int) -> list[str]:
    """The grid's rows: tests that failed (most failures first), then others, up to limit."""
    ranked = sorted(tests, key=lambda t: (-(t.counts.failures + t.counts.infra), t.nodeid))
    return [t.nodeid for t in ranked[:limit]]


def outcome_grid(
    nodeids: list[str],
    columns: list[tuple[str, int]],
    cells: list[tuple[str, str, int, str, bool]],
    total_tests: int,
    total_repetitions: int,
) -> OutcomeGrid:
    row_of = {n: i for i, n in enumerate(nodeids)}
    col_of = {c: i for i, c in enumerate(columns)}
    matrix = [[""] * len(columns) for _ in nodeids]
    for nodeid, session_id, repetition, outcome, infra in cells:
        col = col_of.get((session_id, repetition))
        if nodeid in row_of and col is not None:
            matrix[row_of[nodeid]][col] = "infra" if infra else outcome
    return OutcomeGrid(
        nodeids=tuple(nodeids),
        columns=tuple(columns),
        cells=tuple(tuple(r) for r in matrix),
        total_tests=total_tests,
        total_repetitions=total_repetitions,
    )


def container_name(group: str, origin: str) -> str:
    """How the reports name a container group: our service, or the tests' own by image."""
    return group if origin == "stability" else f"{group} (tests' own)"


def _startup_samples(starts: list[ContainerStart], per_service: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = defaultdict(list)
    for start in reversed(starts):  # latest first
        name = container_name(start.group, start.origin)
        if start.ok and start.ready_s is not None and len(samples[name]) < per_service:
            samples[name].append(start.ready_s)
    return dict(samples)
