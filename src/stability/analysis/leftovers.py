"""Per test over a scope: how often it left state behind, and what (pure).

A test that leaves rows, tables, sequences, Redis keys or running threads behind is a
polluter waiting for its victim, flaky or not; these summaries name them in every
report, and `rank_polluter_candidates` puts them first in a polluter search.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stability.containers import leftovers as lo


@dataclass(frozen=True)
class LeftoverRow:
    """What the store holds for one test: executions with leftovers, the latest one's."""

    nodeid: str
    executions: int  # executions that left something
    latest: str  # JSON of the latest such execution
    bypassed_transaction: bool = False  # in any of them
    late: bool = False  # in any of them


@dataclass(frozen=True)
class LeftoverSummary:
    nodeid: str
    executions: int  # executions that left something behind
    checked: int  # executions in scope (of which `executions` left something)
    latest: Mapping[str, Any]
    bypassed_transaction: bool
    late: bool

    @property
    def description(self) -> str:
        return lo.describe(self.latest)


def summarise(
    rows: Iterable[LeftoverRow], executions_by_test: Mapping[str, int]
) -> list[LeftoverSummary]:
    """One summary per test that left something, most often first."""
    result = []
    for row in rows:
        latest = lo.loads(row.latest)
        if latest is None:
            continue
        result.append(
            LeftoverSummary(
                nodeid=row.nodeid,
                executions=row.executions,
                checked=max(executions_by_test.get(row.nodeid, row.executions), row.executions),
                latest=latest,
                bypassed_transaction=row.bypassed_transaction
                or bool(latest.get("bypassed_transaction")),
                late=row.late or bool(latest.get("late")),
            )
        )
    result.sort(key=lambda s: (-s.executions / s.checked, -s.executions, s.nodeid))
    return result


def rank_polluter_candidates(
    candidates: Sequence[str], summaries: Iterable[LeftoverSummary]
) -> list[str]:
    """The candidates of a polluter search (tests that ran before the victim), the ones
    known to leave state behind first (most often first), the rest in their given order."""
    share = {s.nodeid: s.executions / s.checked for s in summaries}
    order = {nodeid: i for i, nodeid in enumerate(candidates)}
    return sorted(candidates, key=lambda n: (n not in share, -share.get(n, 0.0), order[n]))
