"""Choosing a scope: the sessions a report, check or show looks at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from stability.analysis.models import SessionInfo
from stability.analysis.pooling import run_conditions
from stability.exceptions import StabilityError, UsageError
from stability.store.queries._sql import FAILING, RED_STATUSES

_PROBES = "coalesce(s.kind, 'run') <> 'diagnose'"  # a campaign, not diagnose probes


@dataclass(frozen=True)
class Scope:
    """Which sessions to analyse; all None means the last session."""

    session: str | None = None
    label: str | None = None
    since: datetime | None = None
    commit: str | None = None
    every_session: bool = False  # no filter means every session, not the last one
    pool_all: bool = False  # pool sessions run under other conditions than the newest

    @property
    def is_default(self) -> bool:
        return not (self.session or self.label or self.since or self.commit)

    def describe(self) -> str:
        parts = []
        if self.session:
            parts.append(f"session {self.session}")
        if self.label:
            parts.append(f"label {self.label!r}")
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M} UTC")
        if self.commit:
            parts.append(f"commit {self.commit}")
        return ", ".join(parts) or ("every session" if self.every_session else "the last session")


# -- sessions ----------------------------------------------------------------------------

_SESSION_COLUMNS = """
    s.id, s.started_at, s.finished_at, s.label, s.targets, s.repeat, s.status,
    s.git_commit, s.git_branch, s.host, s.options
"""


def _session(row: tuple[Any, ...], extra: Sequence[int] = ()) -> SessionInfo:
    counts = dict(
        zip(
            ("repetitions", "failed_repetitions", "infra_repetitions", "executions", "tests"),
            extra,
            strict=False,
        )
    )
    return SessionInfo(
        id=row[0],
        started_at=row[1],
        finished_at=row[2],
        label=row[3],
        targets=tuple(row[4] or ()),
        repeat=row[5],
        status=row[6],
        git_commit=row[7],
        git_branch=row[8],
        host=row[9],
        conditions=run_conditions(row[10]),
        **{k: int(v or 0) for k, v in counts.items()},
    )


def count_sessions(conn: duckdb.DuckDBPyConnection) -> int:
    row = conn.execute("SELECT count(*) FROM sessions").fetchone()
    return int(row[0]) if row else 0


def resolve_scope(
    conn: duckdb.DuckDBPyConnection, scope: Scope, where: str = "the history"
) -> list[SessionInfo]:
    """The sessions of a scope, oldest first; a clear StabilityError when there are none."""
    if count_sessions(conn) == 0:
        raise StabilityError(f"no sessions in {where} yet: run `stability run` first")
    if scope.session:
        if scope.label or scope.since or scope.commit:
            raise UsageError("a session id picks one session: give no label, since or commit")
        rows = conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = $id OR s.id LIKE $prefix "
            "ORDER BY s.id = $id DESC, s.started_at",
            {"id": scope.session, "prefix": _like_prefix(scope.session)},
        ).fetchall()
        exact = [r for r in rows if r[0] == scope.session]
        if exact:
            rows = exact
        if not rows:
            raise StabilityError(f"no session {scope.session!r}: see `stability sessions`")
        if len(rows) > 1:
            ids = ", ".join(r[0] for r in rows[:5])
            raise UsageError(f"session {scope.session!r} matches several sessions: {ids}")
        return [_session(rows[0])]
    if scope.is_default and not scope.every_session:
        # the last campaign: `stability diagnose` probes come after it but are not it
        rows = conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s "
            f"ORDER BY {_PROBES} DESC, s.started_at DESC, s.id DESC LIMIT 1"
        ).fetchall()
        return [_session(rows[0])]
    where, params = _filters(scope.label, scope.since, scope.commit)
    rows = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE {where} ORDER BY s.started_at, s.id",
        params,
    ).fetchall()
    if not rows:
        raise StabilityError(f"no session matches {scope.describe()}: see `stability sessions`")
    return [_session(r) for r in rows]


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filters(
    label: str | None, since: datetime | None, commit: str | None, *, probes: bool = False
) -> tuple[str, dict[str, Any]]:
    # probes of `stability diagnose` are no campaign: in a scope only when asked by label
    clauses: list[str] = ["true" if probes or label == "diagnose" else _PROBES]
    params: dict[str, Any] = {}
    if label is not None:
        clauses.append("s.label = $label")
        params["label"] = label
    if since is not None:
        clauses.append("s.started_at >= $since")
        params["since"] = since
    if commit:
        clauses.append("lower(s.git_commit) LIKE $commit ESCAPE '\\'")
        params["commit"] = _like_prefix(commit.lower())
    return " AND ".join(clauses), params


def list_sessions(
    conn: duckdb.DuckDBPyConnection,
    *,
    label: str | None = None,
    since: datetime | None = None,
    commit: str | None = None,
    limit: int | None = 20,
) -> list[SessionInfo]:
    """Sessions, newest first, with their stored repetitions, red ones and executions."""
    where, params = _filters(label, since, commit, probes=True)
    limit_sql = f"LIMIT {int(limit)}" if limit else ""
    rows = conn.execute(
        f"""
        WITH chosen AS (
            SELECT * FROM sessions s WHERE {where} ORDER BY s.started_at DESC, s.id DESC {limit_sql}
        ),
        reps AS (
            SELECT r.session_id, count(*) AS repetitions,
                   count(*) FILTER (WHERE r.status <> 'infra' AND (r.status IN
                       {RED_STATUSES} OR coalesce(f.failing, 0) > 0)) AS red,
                   count(*) FILTER (WHERE r.status = 'infra') AS infra
            FROM repetitions r
            LEFT JOIN (
                SELECT e.session_id, e.repetition, count(*) AS failing FROM executions e
                WHERE e.outcome IN {FAILING}
                  AND NOT coalesce(e.infra, false) AND NOT coalesce(e.environment, false)
                  AND e.session_id IN (SELECT id FROM chosen)
                GROUP BY ALL
            ) f ON f.session_id = r.session_id AND f.repetition = r.number
            WHERE r.session_id IN (SELECT id FROM chosen)
            GROUP BY r.session_id
        ),
        execs AS (
            SELECT session_id, count(*) AS executions, count(DISTINCT nodeid) AS tests
            FROM executions WHERE session_id IN (SELECT id FROM chosen) GROUP BY session_id
        )
        SELECT {_SESSION_COLUMNS}, reps.repetitions, reps.red, reps.infra, execs.executions,
               execs.tests
        FROM chosen s
        LEFT JOIN reps ON reps.session_id = s.id
        LEFT JOIN execs ON execs.session_id = s.id
        ORDER BY s.started_at DESC, s.id DESC
        """,
        params,
    ).fetchall()
    return [_session(r[:11], r[11:]) for r in rows]


def previous_comparable(
    conn: duckdb.DuckDBPyConnection, scope_sessions: Sequence[SessionInfo]
) -> SessionInfo | None:
    """The latest session before the scope with the label and targets of its last session."""
    if not scope_sessions:
        return None
    last = scope_sessions[-1]
    first = min(s.started_at for s in scope_sessions)
    candidates = conn.execute(
        f"""
        SELECT {_SESSION_COLUMNS} FROM sessions s
        WHERE s.started_at < $first AND s.label IS NOT DISTINCT FROM $label
          AND s.targets = $targets::VARCHAR[] AND NOT list_contains($ids::VARCHAR[], s.id)
        ORDER BY s.started_at DESC
        """,
        {
            "first": first,
            "label": last.label,
            "targets": list(last.targets),
            "ids": [s.id for s in scope_sessions],
        },
    ).fetchall()
    for row in candidates:  # the latest with executions: asked one by one, newest first
        if conn.execute(
            "SELECT 1 FROM executions WHERE session_id = ? LIMIT 1", [row[0]]
        ).fetchone():
            return _session(row)
    return None
