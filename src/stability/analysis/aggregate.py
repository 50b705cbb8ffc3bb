"""Tallies from raw execution rows: the reference the SQL in `store.queries` mirrors.

For large histories the store computes the same `TestCounts` and `SignatureCounts` in
DuckDB; these functions define what the numbers mean, serve small scopes (`stability
show`), and the tests check the SQL against them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from stability.analysis.models import ExecutionRow, SignatureCounts, TestCounts
from stability.analysis.rules import (
    DECIDED_OUTCOMES,
    FAILED_OUTCOMES,
    FAILING_OUTCOMES,
    NOT_DECIDED_OUTCOMES,
    environment_apart,
    is_environment_failure,
)
from stability.analysis.stats import quantile


def signature_of(row: ExecutionRow) -> str:
    """The stored signature, else the error type, else the outcome (e.g. `timeout`)."""
    for candidate in (row.failure_signature, row.error_type):
        if candidate and candidate.strip():
            return candidate.strip()
    return row.outcome


def count_tests(rows: Iterable[ExecutionRow]) -> list[TestCounts]:
    """Per-test counts. `rows` must be in chronological order (session start, repetition)
    for the flip count to mean "changes between consecutive repetitions"."""
    rows = list(rows)
    apart = environment_apart(rows)
    tallies: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    durations: dict[str, list[float]] = defaultdict(list)  # call, less container starts
    measured: dict[str, list[float]] = defaultdict(list)  # call, as measured
    totals: dict[str, float] = defaultdict(float)
    in_containers: dict[str, float] = defaultdict(float)
    last_bad: dict[str, bool] = {}
    seen: dict[str, dict[str, set[bool]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        t = tallies[row.nodeid]
        t["executions"] += 1
        if row.infra:
            t["infra"] += 1
            continue
        if row.nodeid in apart and is_environment_failure(row):
            t["environment"] += 1
            continue
        outcome = row.outcome
        if outcome == "passed":
            t["passed"] += 1
        elif outcome in FAILED_OUTCOMES:
            t["failed"] += 1
            t["timeouts"] += outcome == "timeout"
        elif outcome == "error":
            t["errors"] += 1
        elif outcome in NOT_DECIDED_OUTCOMES:
            t[outcome] += 1
        if outcome in DECIDED_OUTCOMES:
            bad = outcome in FAILING_OUTCOMES
            if row.nodeid in last_bad and last_bad[row.nodeid] != bad:
                t["flips"] += 1
            last_bad[row.nodeid] = bad
            seen[row.nodeid][row.commit or f"session:{row.session_id}"].add(bad)
        if outcome != "skipped" and row.call_s is not None and not is_environment_failure(row):
            durations[row.nodeid].append(row.call_s - (row.call_container_s or 0.0))
            measured[row.nodeid].append(row.call_s)
        totals[row.nodeid] += (row.setup_s or 0.0) + (row.call_s or 0.0) + (row.teardown_s or 0.0)
        in_containers[row.nodeid] += (row.setup_container_s or 0.0) + (row.call_container_s or 0.0)
    result = []
    for nodeid in sorted(tallies):
        t = tallies[nodeid]
        values = sorted(durations[nodeid])
        gross = sorted(measured[nodeid])
        result.append(
            TestCounts(
                nodeid=nodeid,
                executions=t["executions"],
                passed=t["passed"],
                failed=t["failed"],
                errors=t["errors"],
                timeouts=t["timeouts"],
                skipped=t["skipped"],
                xfailed=t["xfailed"],
                xpassed=t["xpassed"],
                infra=t["infra"],
                environment=t["environment"],
                flips=t["flips"],
                mixed_on_one_commit=any(len(v) == 2 for v in seen[nodeid].values()),
                p50_s=quantile(values, 0.5) if values else None,
                p95_s=quantile(values, 0.95) if values else None,
                max_s=values[-1] if values else None,
                total_s=totals[nodeid],
                container_s=in_containers[nodeid],
                p95_with_containers_s=quantile(gross, 0.95) if gross else None,
            )
        )
    return result


def count_signatures(rows: Iterable[ExecutionRow]) -> list[SignatureCounts]:
    """Failure signatures per test (non-infra failing executions), most frequent first.
    `rows` in chronological order: the example is the first occurrence's message."""
    rows = list(rows)
    apart = environment_apart(rows)
    groups: dict[tuple[str, str], list[ExecutionRow]] = defaultdict(list)
    for row in rows:
        if row.nodeid in apart and is_environment_failure(row):
            continue
        if not row.infra and row.outcome in FAILING_OUTCOMES:
            groups[(row.nodeid, signature_of(row))].append(row)
    result = [
        SignatureCounts(
            nodeid=nodeid,
            signature=signature,
            count=len(members),
            error_type=members[0].error_type,
            first_session=members[0].session_id,
            first_repetition=members[0].repetition,
            last_session=members[-1].session_id,
            last_repetition=members[-1].repetition,
            example=members[0].message or "",
            example_traceback=members[0].traceback,
        )
        for (nodeid, signature), members in groups.items()
    ]
    result.sort(key=lambda s: (s.nodeid, -s.count, s.signature))
    return result
