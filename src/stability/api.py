"""`stability.History`: a history file as pandas DataFrames, for notebooks and scripts.

    >>> from stability import History
    >>> h = History(".stability/history.duckdb")
    >>> h.tests(label="nightly", since="7d").query("verdict == 'violates'")

Read-only, and the file is open only while a method runs, so a campaign can write
between calls. The scope arguments are the CLI's (`--session`, `--label`, `--since`,
`--commit`) and are resolved by the same functions; with none, a method looks at the
last session, as `stability report` does. `tests()` is the table the reports show.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime
from typing import Any

import pandas as pd

from stability.analysis.models import TestStats
from stability.analysis.per_test import DEFAULT_SLOW_THRESHOLD_S, DEFAULT_TARGET
from stability.analysis.pooling import pool
from stability.since import parse_since
from stability.store.db import connect, resolve_db_path
from stability.store.queries import Scope, list_sessions, resolve_scope
from stability.store.queries.frames import executions_frame

__all__ = ["History"]


class History:
    """The history at `path` (default: `$STABILITY_DB`, else `.stability/history.duckdb`)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = resolve_db_path(path)
        with connect(self.path, "read"):  # fail now, clearly, if it is not readable
            pass

    def __repr__(self) -> str:
        return f"History({str(self.path)!r})"

    def sessions(
        self,
        *,
        label: str | None = None,
        since: str | datetime | None = None,
        commit: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """One row per session, newest first, with its repetition and execution counts
        (what `stability sessions` lists)."""
        with connect(self.path, "read") as conn:
            found = list_sessions(
                conn, label=label, since=_since(since), commit=commit, limit=limit
            )
        columns = [f.name for f in dataclasses.fields(SessionRow)]
        return pd.DataFrame([dataclasses.astuple(_session_row(s)) for s in found], columns=columns)

    def executions(
        self,
        *,
        session: str | None = None,
        label: str | None = None,
        since: str | datetime | None = None,
        commit: str | None = None,
        nodeid: str | None = None,
    ) -> pd.DataFrame:
        """One row per execution in scope: `nodeid`, `outcome`, `phase`, the timings
        (`setup_s`, `call_s`, `teardown_s`), `infra`, the failure and where it ran."""
        scope = _scope(session, label, since, commit)
        with connect(self.path, "read") as conn:
            ids = [s.id for s in resolve_scope(conn, scope, str(self.path))]
            return executions_frame(conn, ids, nodeid)

    def tests(
        self,
        *,
        session: str | None = None,
        label: str | None = None,
        since: str | datetime | None = None,
        commit: str | None = None,
        target: float = DEFAULT_TARGET,
        slow_threshold: float = DEFAULT_SLOW_THRESHOLD_S,
        pool_all: bool = False,
    ) -> pd.DataFrame:
        """The per-test table of the reports, worst first: counts, `flake_rate`, its 95%
        interval (`ci_low`, `ci_high`), `verdict` against `target`, `runs_needed`,
        `status`, `flip_rate`, `p50_s`/`p95_s`/`max_s`, the commonest failure, and for a
        flaky test its `cause` and diagnosed `polluters`. Like the reports, it pools only
        sessions run under the newest session's conditions unless `pool_all`."""
        from stability.report.build import ReportOptions, analyse_scope

        scope = _scope(session, label, since, commit)
        options = ReportOptions(target=target, slow_threshold_s=slow_threshold)
        with connect(self.path, "read") as conn:
            pooled = pool(resolve_scope(conn, scope, str(self.path)), pool_all)
            _, tests = analyse_scope(conn, list(pooled.sessions), scope, options, pooled.left_out)
        return pd.DataFrame([stats_row(t) for t in tests])


@dataclasses.dataclass(frozen=True)
class SessionRow:
    id: str
    started_at: datetime
    finished_at: datetime | None
    label: str | None
    status: str | None
    repeat: int
    repetitions: int
    failed_repetitions: int
    infra_repetitions: int
    tests: int
    executions: int
    git_commit: str | None
    git_branch: str | None
    host: str | None
    targets: tuple[str, ...]


def _session_row(s: Any) -> SessionRow:
    return SessionRow(**{f.name: getattr(s, f.name) for f in dataclasses.fields(SessionRow)})


def stats_row(t: TestStats) -> dict[str, Any]:
    """A test's line of the table: its counts and everything the analysis says of it."""
    c = t.counts
    row: dict[str, Any] = {"nodeid": c.nodeid}
    row.update({k: v for k, v in dataclasses.asdict(c).items() if k != "nodeid"})
    row.update(
        decided=c.decided,
        failures=c.failures,
        flake_rate=t.flake_rate,
        ci_low=t.ci_low,
        ci_high=t.ci_high,
        verdict=t.verdict,
        runs_needed=t.runs_needed,
        status=t.status,
        flip_rate=t.flip_rate,
        slow=t.slow,
        slowdown=t.slowdown,
        baseline_p50_s=t.baseline_p50_s,
        top_signature=t.signatures[0].signature if t.signatures else None,
        signatures=len(t.signatures),
        cause=t.cause.cause if t.cause else None,
        polluters=list(t.cause.polluters) if t.cause else [],
    )
    return row


def _since(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_since(value)


def _scope(
    session: str | None, label: str | None, since: str | datetime | None, commit: str | None
) -> Scope:
    return Scope(session=session, label=label, since=_since(since), commit=commit)
