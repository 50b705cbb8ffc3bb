"""The records that flow through the pipeline, and the names of outcomes and statuses.

One definition each: the recorder writes them (as JSON lines), the runner reads them and
adds what only it knows, and the store's columns derive from their fields
(`columns(...)`). What counts as failed, decided or infra is not decided here but in
`stability.analysis.rules`. A field added here is a column to add in `store/schema.py`; mypy
catches a misspelt field wherever a record is built.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, TypeVar, get_args

Outcome = Literal[
    "passed", "failed", "error", "skipped", "xfailed", "xpassed", "timeout", "crashed"
]
Phase = Literal["collect", "setup", "call", "teardown"]
# environment: its only failures were the environment's (network, DNS); not red
RepetitionStatus = Literal["passed", "failed", "timeout", "crashed", "infra", "environment"]
SessionStatus = Literal["running", "completed", "interrupted", "stopped_at_failure"]
# `diagnose`: the probes of `stability diagnose`, left out of every scope but their own.
SessionKind = Literal["run", "diagnose"]

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
REPETITION_STATUSES: tuple[RepetitionStatus, ...] = get_args(RepetitionStatus)


@dataclass
class Execution:
    """One test's result in one repetition: written by the recorder, completed by the
    runner (`failure_signature`, `infra` from the repetition), stored as one row."""

    nodeid: str
    file: str
    outcome: Outcome
    phase: Phase | None = None
    setup_s: float | None = None
    call_s: float | None = None
    teardown_s: float | None = None
    started_at: str | None = None
    error_type: str | None = None
    message: str | None = None  # bounded
    traceback: str | None = None  # bounded
    failure_signature: str | None = None  # set by the runner for failing outcomes
    captured_output: str | None = None  # failures only, bounded
    infra: bool = False  # failed because of the infrastructure, not the test
    environment: bool = False  # failed because the network / a name was unreachable
    failure_frame: str | None = None  # file:line in function, where it failed in the project
    position: int | None = None  # 1-based order in which the test started in its process
    attempt: int = 1  # the test's run number in its process (`run --in-process K`)
    setup_container_s: float | None = None  # of setup_s, spent starting and stopping containers
    call_container_s: float | None = None  # of call_s, spent starting and stopping containers
    leftovers: str | None = (
        None  # JSON: state the test left behind (`stability.containers.leftovers`)
    )


ContainerOrigin = Literal["stability", "tests"]


@dataclass
class ContainerStart:
    """One container start, measured from asking to answering: by our fixtures (origin
    `stability`) or by the tests' own code through testcontainers or the Docker SDK
    (origin `tests`, seen by `container_watch`)."""

    service: str  # postgres, redis; for the tests' own containers the image's short name
    image: str | None
    started_at: str | None
    ready_s: float | None = None  # asking to answering
    setup_s: float | None = None  # including migrations and seed
    ok: bool = False
    error: str | None = None
    origin: ContainerOrigin = "stability"
    container_id: str | None = None
    nodeid: str | None = None  # the test running when it was asked for
    running_s: float | None = None  # asking to running (the engine started it)
    ended_at: str | None = None  # removed, stopped or dead, as far as the process saw
    died: bool = False  # exited or was killed while nobody had asked it to stop
    exit_code: int | None = None  # when it died
    oom: bool | None = None  # when it died: killed for lack of memory
    wait_s: float | None = None  # the first test that asked waited this long (None: none)
    pooled: bool = False  # started ahead by the runner's pool, handed to this repetition


@dataclass
class ContainerLog:
    """A service's logs, kept for a repetition with a failure."""

    service: str
    logs: str | None


@dataclass
class ContainerState:
    """A container's state as seen just before its owner removed it (`container_health`).

    Not stored: the runner judges it, and a failure becomes the repetition's `infra`
    status and reason and its later failures' `infra` flag.
    """

    service: str
    container_id: str | None
    status: str  # running, exited, dead, paused, restarting; gone, unreachable
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    started_at: str | None = None
    finished_at: str | None = None  # None: never stopped
    error: str | None = None  # why it could not be inspected


@dataclass
class Repetition:
    """One fresh pytest process of a session, as the runner saw it."""

    session_id: str
    number: int
    worker: int
    started_at: datetime
    wall_s: float
    exit_code: int | None
    status: RepetitionStatus
    error: str | None = None
    shard: str | None = None  # '2/4' under `stability run --shard 2/4`
    host: str | None = None  # the machine that ran it (shards run on several)
    seed: int | None = None  # the order's seed under `run --shuffle`; None: declared order


@dataclass
class Session:
    """One `stability run` invocation."""

    id: str
    started_at: datetime
    label: str | None
    targets: list[str]
    repeat: int
    options: str  # JSON
    status: SessionStatus
    finished_at: datetime | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    host: str | None = None
    python_version: str | None = None
    pytest_version: str | None = None
    package_version: str | None = None
    cwd: str | None = None
    kind: SessionKind = "run"


# Records stored per repetition carry this key in front of their own fields.
REPETITION_KEY = ("session_id", "repetition")

R = TypeVar("R")


def columns(record_type: type[Any], *, keyed: bool = False) -> tuple[str, ...]:
    """The stored column names of a record type, with the repetition key when `keyed`."""
    own = tuple(f.name for f in fields(record_type))
    return (*REPETITION_KEY, *own) if keyed else own


def values(record: Any) -> list[Any]:
    """The record's field values in `columns` order."""
    return [getattr(record, f.name) for f in fields(record)]


def from_mapping(record_type: type[R], data: dict[str, Any]) -> R:
    """A record from a JSON object: unknown keys are ignored (a newer recorder), missing
    optional ones take their defaults."""
    names = {f.name for f in fields(record_type)}  # type: ignore[arg-type]
    return record_type(**{k: v for k, v in data.items() if k in names})
