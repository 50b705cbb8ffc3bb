"""The shapes that flow through the analysis: rows in, per-test and suite numbers out.

The store's queries build the input shapes (`ExecutionRow`, `TestCounts`, ...); the
analysis turns them into `TestStats` and `SuiteStats`; the reports only read those.
The counting rules they follow live in `stability.analysis.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from stability.analysis.causes import CauseFinding
from stability.analysis.rules import Status
from stability.analysis.stats import Verdict
from stability.records import ContainerOrigin, Outcome, Phase, RepetitionStatus


@dataclass(frozen=True)
class ExecutionRow:
    """One test's result in one repetition, as stored (with its repetition's status)."""

    session_id: str
    repetition: int
    nodeid: str
    outcome: Outcome
    infra: bool = False  # the execution's flag, or its repetition's status is `infra`
    commit: str | None = None  # the session's git commit
    phase: Phase | None = None
    setup_s: float | None = None
    call_s: float | None = None
    teardown_s: float | None = None
    error_type: str | None = None
    message: str | None = None
    traceback: str | None = None
    failure_signature: str | None = None
    environment: bool = False  # a failure of the network / name resolution (not infra)
    failure_frame: str | None = None
    setup_container_s: float | None = None  # of setup_s, spent starting and stopping containers
    call_container_s: float | None = None  # of call_s, spent starting and stopping containers


# The largest relative error of a p50 / p95 read from the store's log-binned histograms
# (half a bin: bins are a factor e^(1/20) wide), when a scope is too large to sort.
BINNED_QUANTILE_ERROR = 0.026


@dataclass(frozen=True)
class TestCounts:
    """Per-test tallies over a scope: what SQL (or `aggregate.count_tests`) computes."""

    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    executions: int = 0  # every stored execution, infra ones included
    passed: int = 0
    failed: int = 0  # includes timeouts and crashes
    errors: int = 0
    timeouts: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    infra: int = 0
    environment: int = 0  # environment failures counted apart (the test fails no other way)
    flips: int = 0  # changes pass<->fail between consecutive decided executions
    mixed_on_one_commit: bool = False  # passed and failed on the same commit
    # Call phase of non-infra, non-skipped executions, less the time the call spent
    # starting and stopping containers: a test is not slow for its container alone.
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    total_s: float = 0.0  # setup + call + teardown, all non-infra executions
    container_s: float = 0.0  # of total_s, starting and stopping containers (setup, call)
    p95_with_containers_s: float | None = None  # call phase p95 as measured
    # p50 / p95 read from log-binned histograms (a scope too large to sort every duration):
    # within BINNED_QUANTILE_ERROR of the exact value; max_s stays exact
    binned: bool = False

    @property
    def decided(self) -> int:
        return self.passed + self.failed + self.errors

    @property
    def failures(self) -> int:
        return self.failed + self.errors


@dataclass(frozen=True)
class SignatureCounts:
    """One failure signature of one test over a scope."""

    nodeid: str
    signature: str
    count: int
    error_type: str | None
    first_session: str
    first_repetition: int
    last_session: str
    last_repetition: int
    example: str  # the first occurrence's message
    example_traceback: str | None = None


@dataclass(frozen=True)
class RepetitionRow:
    """One repetition, with whether any of its (non-infra) executions failed."""

    session_id: str
    number: int
    status: RepetitionStatus
    failing_executions: int = 0


@dataclass(frozen=True)
class ContainerStart:
    session_id: str
    repetition: int
    service: str
    ready_s: float | None
    setup_s: float | None
    ok: bool
    error: str | None = None
    origin: ContainerOrigin = "stability"  # or "tests": started by the tests' own code
    image: str | None = None
    died: bool = False  # ended while nobody had asked it to stop
    wait_s: float | None = None  # what the first test that asked for it waited
    pooled: bool = False  # started ahead by the runner's pool

    @property
    def group(self) -> str:
        """Our services by name, the tests' own containers by image."""
        return self.service if self.origin == "stability" else self.image or self.service


@dataclass(frozen=True)
class SessionInfo:
    id: str
    started_at: datetime
    finished_at: datetime | None
    label: str | None
    targets: tuple[str, ...]
    repeat: int
    status: str | None
    git_commit: str | None
    git_branch: str | None
    host: str | None
    conditions: str = ""  # pytest args and order options (`pooling.run_conditions`)
    repetitions: int = 0  # stored repetitions
    failed_repetitions: int = 0
    infra_repetitions: int = 0
    executions: int = 0
    tests: int = 0


@dataclass(frozen=True)
class TrendPoint:
    """One past session with the same label: the suite's numbers in it."""

    session_id: str
    started_at: datetime
    git_commit: str | None
    repetitions: int
    failed_repetitions: int
    decided: int
    failures: int
    tests: int
    flaky_tests: int


@dataclass(frozen=True)
class TestStats:
    """Everything the reports say about one test."""

    __test__ = False

    counts: TestCounts
    flake_rate: float | None
    ci_low: float
    ci_high: float
    verdict: Verdict
    runs_needed: int | None
    status: Status
    flip_rate: float | None
    slow: bool
    slowdown: bool = False
    baseline_p50_s: float | None = None
    signatures: tuple[SignatureCounts, ...] = ()
    cause: CauseFinding | None = None  # flaky tests only (`analysis.causes`)

    @property
    def nodeid(self) -> str:
        return self.counts.nodeid


@dataclass(frozen=True)
class ServiceStartup:
    """Container start-up times of one service against the target."""

    service: str
    starts: int
    failed: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    over_target: int  # ok starts slower than the target
    setup_p95_s: float | None = None
    origin: ContainerOrigin = "stability"  # "tests": the tests' own, by image (`service`)
    died: int = 0  # containers that ended while nobody had asked them to stop
    pooled: int = 0  # starts the runner's pool made ahead of their repetition
    wait_p50_s: float | None = None  # what the tests waited for it (pooled: near zero)


@dataclass(frozen=True)
class SuiteStats:
    repetitions: int  # every stored repetition in scope
    infra_repetitions: int
    failed_repetitions: int  # non-infra repetitions with >= 1 failure, or failed/crashed
    failed_repetition_rate: float | None  # over non-infra repetitions
    tests: int
    executions: int
    decided: int
    failures: int
    infra_executions: int
    failed_container_starts: int
    environment_executions: int = 0  # environment failures counted apart
    verdicts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    slow_tests: int = 0
    slowdowns: int = 0
    containers: tuple[ServiceStartup, ...] = ()
