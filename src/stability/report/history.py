"""One test's history (`stability show NODEID`): per session, its failed repetitions,
its failure signatures. A single test's rows are few, so they are tallied in Python by
the reference functions of `stability.analysis.aggregate`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stability.analysis.aggregate import count_signatures, count_tests, signature_of
from stability.analysis.causes import Evidence
from stability.analysis.leftovers import LeftoverSummary, summarise
from stability.analysis.models import ExecutionRow, SessionInfo, TestStats
from stability.analysis.per_test import analyse_test, with_causes
from stability.analysis.pooling import pool
from stability.analysis.rules import FAILING_OUTCOMES
from stability.exceptions import StabilityError, UsageError
from stability.report import _format as f
from stability.report._printable import printable_text
from stability.report.json_report import session_json, stats_json
from stability.store import queries
from stability.store.db import connect

MAX_FAILURES = 200


@dataclass(frozen=True)
class SessionLine:
    session: SessionInfo
    stats: TestStats


@dataclass(frozen=True)
class TestHistory:
    __test__ = False

    nodeid: str
    scope: str
    stats: TestStats
    sessions: tuple[SessionLine, ...]
    failures: tuple[ExecutionRow, ...]  # the latest MAX_FAILURES failing executions
    total_failures: int
    with_logs: frozenset[tuple[str, int]] = frozenset()  # (session, repetition) with logs
    left_out: tuple[SessionInfo, ...] = ()  # sessions run under other conditions
    leftovers: LeftoverSummary | None = None  # what it left behind, when it did


def build_history(
    db_path: Path, text: str, scope: queries.Scope, *, target: float, slow_threshold_s: float
) -> TestHistory:
    with connect(db_path, "read") as conn:
        pooled = pool(queries.resolve_scope(conn, scope, str(db_path)), scope.pool_all)
        sessions = list(pooled.sessions)
        ids = [s.id for s in sessions]
        names = queries.find_nodeids(conn, ids, text)
        if not names:
            raise StabilityError(f"no test {text!r} in scope ({scope.describe()})")
        if len(names) > 1:
            listed = "\n  ".join(names[:10])
            raise UsageError(f"{text!r} matches {len(names)} tests; give one of:\n  {listed}")
        nodeid = names[0]
        rows = queries.executions(conn, ids, nodeid)
        logged = queries.repetitions_with_logs(conn, ids)
        # a cause compares conditions: its evidence reads the sessions left out of the rate
        every = ids + [s.id for s in pooled.left_out]
        evidence = queries.cause_evidence(conn, every, [nodeid]).get(nodeid) or Evidence(nodeid)
        evidence = replace(evidence, diagnosis=queries.diagnoses(conn, every).get(nodeid))
        left = summarise(queries.leftover_rows(conn, ids, nodeid), {nodeid: len(rows)})

    def analyse(subset: list[ExecutionRow]) -> TestStats:
        counts = count_tests(subset)[0]
        return analyse_test(
            counts,
            target=target,
            slow_threshold_s=slow_threshold_s,
            signatures=count_signatures(subset),
        )

    by_session: dict[str, list[ExecutionRow]] = defaultdict(list)
    for row in rows:
        by_session[row.session_id].append(row)
    lines = tuple(
        SessionLine(s, analyse(by_session[s.id])) for s in sessions if by_session.get(s.id)
    )
    failing = [r for r in rows if not r.infra and r.outcome in FAILING_OUTCOMES]
    return TestHistory(
        nodeid=nodeid,
        scope=scope.describe(),
        stats=with_causes([analyse(rows)], {nodeid: evidence})[0],
        sessions=lines,
        failures=tuple(failing[-MAX_FAILURES:]),
        total_failures=len(failing),
        with_logs=frozenset(logged),
        left_out=pooled.left_out,
        leftovers=left[0] if left else None,
    )


def history_json(h: TestHistory) -> dict[str, Any]:
    return {
        "nodeid": h.nodeid,
        "scope": h.scope,
        "test": stats_json(h.stats, h.leftovers),
        "sessions": [
            {"session": session_json(line.session), "test": stats_json(line.stats)}
            for line in h.sessions
        ],
        "failures": [
            {
                "session": r.session_id,
                "repetition": r.repetition,
                "outcome": r.outcome,
                "phase": r.phase,
                "error_type": r.error_type,
                "message": r.message,
                "signature": r.failure_signature,
                "environment": r.environment,
                "logs": (r.session_id, r.repetition) in h.with_logs,
            }
            for r in h.failures
        ],
        "total_failures": h.total_failures,
        "left_out_sessions": [s.id for s in h.left_out],
    }


def render_history(h: TestHistory, console: Console) -> None:
    t = h.stats
    console.print(printable_text(h.nodeid, style="bold"))
    console.print(
        printable_text(
            f"{f.pct(t.flake_rate)} flake rate ({f.fraction(t)} failed, 95% interval {f.ci(t)}), "
            f"{t.verdict}, {f.status(t)}; flip rate {f.pct(t.flip_rate)}; "
            f"call p50 {f.seconds(t.counts.p50_s)}, p95 {f.seconds(t.counts.p95_s)} "
            f"— over {h.scope}{f.left_out_note(h.left_out)}"
        )
    )
    if t.cause is not None:
        console.print(printable_text(f"cause: {f.cause(t)} — {t.cause.why}"))
        d = t.cause.diagnosis
        if d is not None and d.failing_command:
            console.print(printable_text(f"fails: {d.failing_command}"))
            if d.passing_command:
                console.print(printable_text(f"passes: {d.passing_command}"))
    if h.leftovers is not None:
        lv = h.leftovers
        console.print(
            printable_text(
                f"Leaves state behind in {lv.executions} of {lv.checked} executions; "
                f"the latest: {lv.description}",
                style="yellow",
            )
        )
    table = Table(title="By session", title_justify="left")
    for name in ("Session", "Started", "Label", "Commit", "Conditions", "Failed", "Rate"):
        table.add_column(name, overflow="fold")
    for name in ("Verdict", "p50"):
        table.add_column(name)
    for line in h.sessions:
        s, st = line.session, line.stats
        table.add_row(
            printable_text(s.id),
            f"{s.started_at:%Y-%m-%d %H:%M}",
            printable_text(s.label or ""),
            printable_text((s.git_commit or "")[:10]),
            printable_text(s.conditions),
            f.fraction(st),
            f.pct(st.flake_rate),
            st.verdict,
            f.seconds(st.counts.p50_s),
        )
    console.print(table)
    if h.failures:
        shown = f" (latest {len(h.failures)})" if h.total_failures > len(h.failures) else ""
        fails = Table(
            title=f"Failed repetitions: {h.total_failures}{shown}, by session and signature",
            title_justify="left",
        )
        for name in ("Session", "Count", "Repetitions", "Outcome", "Message"):
            fails.add_column(name, overflow="fold")
        for group in collapse_failures(h.failures):
            first = group[0]
            message = (first.message or first.error_type or "").strip().splitlines()
            outcome = first.outcome + (" (environment)" if first.environment else "")
            fails.add_row(
                printable_text(first.session_id),
                str(len(group)),
                printable_text(number_ranges(r.repetition for r in group)),
                printable_text(f"{outcome}, {first.phase}" if first.phase else outcome),
                printable_text(message[0][:200] if message else ""),
            )
        console.print(fails)
        logged = [r for r in h.failures if (r.session_id, r.repetition) in h.with_logs]
        if logged:
            console.print(
                printable_text(
                    "The containers' logs of a failed repetition: "
                    f"stability logs {logged[-1].session_id} {logged[-1].repetition}",
                    style="dim",
                )
            )
    if t.signatures:
        sig = Table(title="Failure signatures", title_justify="left")
        for name in ("Count", "Signature", "First", "Last", "Example"):
            sig.add_column(name, overflow="fold")
        for g in t.signatures:
            sig.add_row(
                str(g.count),
                printable_text(g.signature),
                printable_text(f"{g.first_session} #{g.first_repetition}"),
                printable_text(f"{g.last_session} #{g.last_repetition}"),
                printable_text("\n".join(g.example.strip().splitlines()[:3])[:300]),
            )
        console.print(sig)


def collapse_failures(failures: Iterable[ExecutionRow]) -> list[list[ExecutionRow]]:
    """Failures grouped by session and signature, in order of their first occurrence."""
    groups: dict[tuple[str, str, str], list[ExecutionRow]] = {}
    for r in failures:
        groups.setdefault((r.session_id, signature_of(r), r.outcome), []).append(r)
    return list(groups.values())


def number_ranges(numbers: Iterable[int]) -> str:
    """`1-3, 7, 9-10` from 1, 2, 3, 7, 9, 10."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    start = prev = None
    for n in [*ordered, None]:
        if n is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    return ", ".join(parts)
