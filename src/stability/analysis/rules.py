"""The counting rules: the one home of what counts as failed, decided, infra, flaky, broken.

Every consumer — the run summary, every report format, `show`, `check`, and the SQL in
`store.queries` (as lists built from these sets) — uses these definitions.

- An execution is *infra* when its `infra` flag is set or its repetition's status is
  `infra`: a container could not start, or one died, was stopped, ran out of memory or
  restarted while the repetition ran, or the Docker engine stopped answering
  (`container_health`). Infra executions are counted apart (`infra`) and left out of
  every rate, duration and signature.
- An *environment* failure is a failing, non-infra execution the recorder flagged
  `environment`: a name that does not resolve, an unreachable network, a connection
  refused by an address that is not one of our containers. A test whose every failure is
  an environment failure has them counted apart (`environment`, like infra: out of its
  rate, durations and signatures); a test that also fails in other ways has them counted
  as the failures they are.
- *Decided* executions are passed + failed + errors. A runner `timeout` counts as failed
  (and is also counted in `timeouts`), and so does `crashed` (the pytest process died
  while the test ran). `skipped`, `xfailed` and a non-strict `xpassed` are not decided:
  pytest itself passes the run either way. A strict xpass (``xfail_strict``) is reported
  by pytest as `failed` and so counts as a failure.
- Flake rate = (failed + errors) / decided; its verdict is `stats.verdict`.
- Status (`status_of`): *broken* never passed, *flaky* passed and failed, *stable* never
  failed, *environment* only failed by the environment and never passed, *undecided* has
  no decided execution (only skipped, xfailed or infra ones, or none at all).
- A repetition is red when one of its executions failed that is neither infra nor an
  environment failure, or its status is one of `RED_REPETITION_STATUSES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

from stability.records import Outcome, RepetitionStatus

Status = Literal["stable", "flaky", "broken", "environment", "undecided"]
STATUSES: tuple[Status, ...] = ("broken", "flaky", "stable", "environment", "undecided")

# Counted as `failed`: a test failure, the runner's time-out while the test ran, or the
# pytest process crashing while it ran. `error` is its own count (setup/teardown).
FAILED_OUTCOMES: frozenset[Outcome] = frozenset({"failed", "timeout", "crashed"})
FAILING_OUTCOMES: frozenset[Outcome] = FAILED_OUTCOMES | {"error"}
DECIDED_OUTCOMES: frozenset[Outcome] = FAILING_OUTCOMES | {"passed"}
NOT_DECIDED_OUTCOMES: frozenset[Outcome] = frozenset({"skipped", "xfailed", "xpassed"})
# A repetition with one of these statuses is red even when no execution says why
# (a collection error, a crash, the runner's time-out).
RED_REPETITION_STATUSES: frozenset[RepetitionStatus] = frozenset({"failed", "timeout", "crashed"})


def is_failing(outcome: str) -> bool:
    return outcome in FAILING_OUTCOMES


class Tallied(Protocol):
    """What a status is judged from (`models.TestCounts` has it)."""

    @property
    def passed(self) -> int: ...
    @property
    def decided(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def environment(self) -> int: ...


def status_of(counts: Tallied) -> Status:
    """`broken`: decided but never passed; `flaky`: both passed and failed in scope;
    `stable`: never failed; `undecided`: only skipped / xfail / infra executions.

    A flaky test whose passes and failures never share a commit (a scope spanning
    commits) keeps `flaky`; `TestCounts.mixed_on_one_commit` tells the two apart and the
    reports mark it "across commits": it may be a regression or a fix instead.
    """
    if counts.decided == 0:
        return "environment" if counts.environment else "undecided"
    if counts.passed == 0:
        return "broken"
    if counts.failures == 0:
        return "stable"
    return "flaky"


class Judged(Protocol):
    """What an execution is classified from (`models.ExecutionRow` has it)."""

    @property
    def nodeid(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def infra(self) -> bool: ...
    @property
    def environment(self) -> bool: ...


def is_environment_failure(row: Judged) -> bool:
    """A failing, non-infra execution flagged as the environment's (network, DNS)."""
    return row.environment and not row.infra and row.outcome in FAILING_OUTCOMES


def environment_apart(rows: Iterable[Judged]) -> set[str]:
    """The tests whose environment failures are counted apart: every failure they have
    (infra aside) is an environment failure."""
    env: set[str] = set()
    other: set[str] = set()
    for row in rows:
        if row.infra or row.outcome not in FAILING_OUTCOMES:
            continue
        (env if row.environment else other).add(row.nodeid)
    return env - other
