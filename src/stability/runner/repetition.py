"""One repetition: a fresh `python -m pytest` process, its records, and what they add up to.

The child runs in its own process group (so a time-out or Ctrl-C kills it with all its
xdist workers) with a fresh results folder. Afterwards its records become rows
(`build_rows`, pure) and any container it left behind is removed by its labels.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stability.analysis.rules import FAILING_OUTCOMES
from stability.analysis.signatures import failure_signature
from stability.containers import labels
from stability.containers import leftovers as lo
from stability.containers.health import (
    GRACE,
    ContainerFailure,
    first_failure_at,
    inspect_labelled,
    judge,
)
from stability.containers.reaper import note_child, owned_tmpdir
from stability.exceptions import StabilityError
from stability.records import (
    ContainerLog,
    ContainerStart,
    ContainerState,
    Execution,
    Repetition,
    RepetitionStatus,
    from_mapping,
)
from stability.runner.bytecode_cache import with_bytecode_cache
from stability.runner.order_env import IN_PROCESS_ENV, SEED_ENV
from stability.runner.prestart import Spare
from stability.runner.results_file import (
    MAX_MESSAGE,
    MAX_OUTPUT,
    MAX_TRACEBACK,
    RESULTS_DIR_ENV,
    RUNNER_PID_ENV,
    RUNNER_STARTED_ENV,
    bounded,
    read_records,
)
from stability.store.ingest import RepetitionRows
from stability.text import first_line

_OUTPUT_TAIL = 4000
_LATE_CONTAINER_DELAY_S = 1.0


@dataclass(frozen=True)
class RepetitionSpec:
    session_id: str
    number: int
    worker: int
    argv: list[str]
    cwd: Path
    timeout: float | None = None
    seed: int | None = None  # shuffle the tests in this seed's order; None: declared order
    in_process: int = 1  # runs of each test in the process
    # containers the runner's pool started ahead for it (environment entries to hand over)
    containers: Future[dict[str, str]] | None = None
    spare: Spare | None = None  # a process started ahead to run it (`runner.prestart`)


@dataclass
class RepetitionResult:
    number: int
    worker: int
    rows: RepetitionRows
    status: RepetitionStatus
    exit_code: int | None
    wall_s: float
    output_tail: str = ""
    interrupted: bool = False  # killed by the runner stopping: not to be stored
    failures: int = 0


class ProcessRegistry:
    """The running repetitions' processes, so a stopping runner can kill them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    def add(self, number: int, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs[number] = proc
        if self.stopping.is_set():  # started while the runner was stopping
            _kill_group(proc)

    def remove(self, number: int) -> None:
        with self._lock:
            self._procs.pop(number, None)

    def kill_all(self) -> list[int]:
        """Stop every running repetition; the numbers of those that were running."""
        self.stopping.set()
        with self._lock:
            procs = dict(self._procs)
        for proc in procs.values():
            _kill_group(proc)
        return sorted(procs)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: its pid is the group id


def run_repetition(
    spec: RepetitionSpec,
    registry: ProcessRegistry,
    remove: Callable[[str, int, bool], object] | None = None,
) -> RepetitionResult:
    """Run it and build its rows. `remove(session, number, late)` removes its containers
    afterwards (default: here and now; the campaign does it in the background)."""
    # inside the runner's own folder, which its reaper removes if the runner is killed
    folder = Path(
        tempfile.mkdtemp(prefix=f"stability-{spec.session_id}-{spec.number}-", dir=owned_tmpdir())
    )
    env = repetition_env(spec, folder)
    if spec.containers is not None:
        env.update(_handed(spec.containers))
    started_at = datetime.now(UTC)
    began = time.perf_counter()
    timed_out = False
    try:
        proc = _launch(spec, env, folder / "output.log")
        registry.add(spec.number, proc)
        note_child(folder, proc.pid)  # if the runner is killed, its reaper waits for this
        try:
            proc.wait(timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            proc.wait()
        finally:
            registry.remove(spec.number)
        wall_s = time.perf_counter() - began
        interrupted = registry.stopping.is_set() and proc.returncode < 0 and not timed_out
        records = read_records(folder)
        tail = _tail(folder / "output.log")
        # what the repetition left behind, seen before it is removed
        leftovers = (
            inspect_labelled(spec.session_id, spec.number)
            if any(r.get("kind") == "container_start" and r.get("ok") for r in records)
            else []
        )
        rows, status = build_rows(
            spec,
            records,
            exit_code=proc.returncode,
            timed_out=timed_out,
            wall_s=wall_s,
            started_at=started_at,
            output_tail=tail,
            leftovers=leftovers,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    killed = timed_out or interrupted or status == "crashed"
    created = any(r.get("kind") in ("container_start", "container_created") for r in records)
    if killed or created or spec.containers is not None:
        (remove or _remove_now)(spec.session_id, spec.number, killed)
    failures = sum(1 for e in rows.executions if e.outcome in FAILING_OUTCOMES)
    return RepetitionResult(
        number=spec.number,
        worker=spec.worker,
        rows=rows,
        status=status,
        exit_code=proc.returncode,
        wall_s=wall_s,
        output_tail=tail,
        interrupted=interrupted,
        failures=failures,
    )


def _launch(spec: RepetitionSpec, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The repetition's process: its spare if it has a live one, else a new one."""
    if spec.spare is not None and spec.spare.start(env, log, spec.argv[3:]):
        return spec.spare.proc
    with open(log, "wb") as out:
        return subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def runner_env() -> dict[str, str]:
    """What every repetition's environment shares: the runner's, with our defaults."""
    env = {
        **os.environ,
        RUNNER_PID_ENV: str(os.getpid()),
        RUNNER_STARTED_ENV: labels.process_started(os.getpid()) or "",
        # Ryuk needs a pulled image; the tests' own testcontainers are reaped by our labels.
        "TESTCONTAINERS_RYUK_DISABLED": os.environ.get("TESTCONTAINERS_RYUK_DISABLED", "true"),
    }
    for name in (SEED_ENV, IN_PROCESS_ENV):
        env.pop(name, None)
    return with_bytecode_cache(env)


def repetition_env(spec: RepetitionSpec, folder: Path) -> dict[str, str]:
    """The child's environment: where to record, which order, and a temporary directory
    of its own (TMPDIR, and so pytest's basetemp), removed with `folder` afterwards, so
    no file in /tmp carries over from one repetition to the next."""
    tmp = folder / "tmp"
    tmp.mkdir()
    env = {
        **runner_env(),
        RESULTS_DIR_ENV: str(folder),
        labels.SESSION_ENV: spec.session_id,
        labels.REPETITION_ENV: str(spec.number),
        "TMPDIR": str(tmp),
    }
    if spec.seed is not None:
        env[SEED_ENV] = str(spec.seed)
    if spec.in_process > 1:
        env[IN_PROCESS_ENV] = str(spec.in_process)
    return env


def _handed(containers: Future[dict[str, str]]) -> dict[str, str]:
    """The pool's containers for this repetition; none if their start failed."""
    try:
        return containers.result()
    except Exception:  # cancelled, or a start that broke: the repetition starts its own
        return {}


def _remove_now(session_id: str, number: int, late: bool) -> int:
    return remove_containers(session_id, number, late=late)


def remove_containers(session_id: str, number: int, *, late: bool = False) -> int:
    """Remove what the repetition left; `late`: look again for a start still in flight."""
    from stability.containers.cleanup import prune_containers

    removed = 0
    for attempt in range(2 if late else 1):
        if attempt:
            time.sleep(_LATE_CONTAINER_DELAY_S)
        try:
            removed += len(
                prune_containers(only_orphans=False, session=session_id, repetition=number)
            )
        except StabilityError:  # no Docker engine: nothing can have been left
            return removed
    return removed


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(size - _OUTPUT_TAIL, 0))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def build_rows(
    spec: RepetitionSpec,
    records: list[dict[str, Any]],
    *,
    exit_code: int | None,
    timed_out: bool,
    wall_s: float,
    started_at: datetime,
    output_tail: str = "",
    leftovers: list[ContainerState] | None = None,
) -> tuple[RepetitionRows, RepetitionStatus]:
    """The rows of one repetition and its status, from what its processes recorded.

    `leftovers`: the states of the containers the runner found still there afterwards.
    A container that failed while the repetition ran (`container_health.judge`) makes
    every failure from shortly before its death on infrastructure's; when no other
    failure is left, the repetition is `infra`, with the reason.
    """
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_kind.setdefault(str(record.get("kind")), []).append(record)
    starts = [from_mapping(ContainerStart, r) for r in by_kind.get("container_start", [])]
    _join_ends(starts, by_kind.get("container_end", []))
    # Our fixtures' failed starts make the whole repetition infra; a test's own failed
    # start makes that test's failure infra (the recorder flags it).
    failed_starts = [s for s in starts if not s.ok and s.origin == "stability"]
    finishes = by_kind.get("session_finish") or []
    finish = finishes[-1] if finishes else None
    internal = by_kind.get("internal_error", [])
    crashed = not timed_out and (finish is None or bool(internal) or finish["exitstatus"] == 3)

    executions = [_execution(r, bool(failed_starts)) for r in by_kind.get("execution", [])]
    finished = {(e.nodeid, e.attempt) for e in executions}
    in_flight: dict[str, dict[str, Any]] = {}
    for start in by_kind.get("test_start", []):
        if (start["nodeid"], start.get("attempt", 1)) not in finished:
            in_flight[start["nodeid"]] = start
    if timed_out or crashed:
        why = (
            f"the repetition timed out after {spec.timeout:g} s while this test ran"
            if timed_out
            else f"the pytest process died (exit code {exit_code}) while this test ran"
        )
        for start in in_flight.values():
            nodeid = start["nodeid"]
            executions.append(
                Execution(
                    nodeid=nodeid,
                    file=nodeid.split("::")[0],
                    outcome="timeout" if timed_out else "crashed",
                    started_at=start.get("started_at"),
                    position=start.get("position"),
                    attempt=start.get("attempt", 1),
                    message=why,
                    failure_signature="timeout" if timed_out else "crashed",
                    captured_output=None
                    if timed_out
                    else bounded(output_tail, MAX_OUTPUT, tail=True),
                )
            )

    states = [from_mapping(ContainerState, r) for r in by_kind.get("container_state", [])]
    container_failures = judge([*states, *(leftovers or [])])
    if container_failures:
        _blame_infrastructure(executions, first_failure_at(container_failures))
    _attach_state_leftovers(executions, by_kind.get("leftovers", []))
    failing = [e for e in executions if e.outcome in FAILING_OUTCOMES]
    error: str | None = None
    status: RepetitionStatus
    if container_failures and all(e.infra for e in failing):
        status = "infra"
        error = _container_reasons(container_failures, executions)
    elif timed_out:
        status = "timeout"
        running = ", ".join(in_flight) or "no test (collection or session set-up)"
        error = f"timed out after {spec.timeout:g} s; running: {running}"
    elif failed_starts:
        status = "infra"
        causes: dict[str, list[str]] = {}
        for failed_start in failed_starts:
            causes.setdefault(str(failed_start.error), []).append(failed_start.service)
        error = "; ".join(f"{', '.join(sorted(names))}: {cause}" for cause, names in causes.items())
    elif crashed:
        status = "crashed"
        if internal:
            error = str(internal[-1].get("text") or "")
        else:
            error = f"pytest exited with {exit_code} without finishing its session\n{output_tail}"
    elif failing and all(e.infra for e in failing):
        status = "infra"
        error = "; ".join(sorted({str(e.message) for e in failing}))
    elif failing and all(e.infra or e.environment for e in failing):
        status = "environment"
        error = "; ".join(sorted({first_line(e.message) for e in failing if e.environment}))
    elif failing or (finish is not None and finish["exitstatus"] == 1):
        status = "failed"
    elif finish is not None and finish["exitstatus"] not in (0, 5):
        status = "crashed"  # interrupted (pytest.exit) or a usage error, with no failure
        error = f"pytest exited with {finish['exitstatus']}\n{output_tail}"
    else:
        status = "passed"
    if container_failures and status != "infra":  # real failures too: say what else happened
        error = "; ".join(filter(None, [error, _container_reasons(container_failures, executions)]))
    repetition = Repetition(
        session_id=spec.session_id,
        number=spec.number,
        worker=spec.worker,
        started_at=started_at,
        wall_s=round(wall_s, 4),
        exit_code=exit_code,
        status=status,
        error=bounded(error, MAX_TRACEBACK, tail=True),
        seed=spec.seed,
    )
    logs = [from_mapping(ContainerLog, r) for r in by_kind.get("container_logs", [])]
    return RepetitionRows(repetition, executions, starts, logs), status


def _join_ends(starts: list[ContainerStart], ends: list[dict[str, Any]]) -> None:
    """Add to each start how its container ended (the first end seen; a death wins)."""
    by_id = {s.container_id: s for s in starts if s.container_id}
    for end in ends:
        start = by_id.get(str(end.get("container_id")))
        if start is None:
            continue
        if start.ended_at is None:
            start.ended_at = end.get("ended_at")
        if end.get("died") and not start.died:
            start.died = True
            start.exit_code = end.get("exit_code")
            start.oom = end.get("oom")


def _attach_state_leftovers(executions: list[Execution], records: list[dict[str, Any]]) -> None:
    """Merge the leftover check's findings into their tests' executions (a test can get
    several: its own, and what its threads did after it ended). A test run more than
    once in the process gets each on the run (attempt) it belongs to; a finding without
    an attempt goes to the test's last execution."""
    found: dict[tuple[str, int | None], lo.Leftovers | None] = {}
    for record in records:
        data = record.get("leftovers")
        if isinstance(data, dict):
            attempt = record.get("attempt")
            key = (str(record.get("nodeid")), attempt if isinstance(attempt, int) else None)
            found[key] = lo.merge(found.get(key), data)
    runs = {(e.nodeid, e.attempt): e for e in executions}
    last = {e.nodeid: e for e in executions}
    for (nodeid, attempt), merged in found.items():
        own = runs.get((nodeid, attempt)) if attempt is not None else None
        execution = own or last.get(nodeid)
        if execution is not None:
            execution.leftovers = lo.dumps(lo.merge(lo.loads(execution.leftovers), merged))


def _execution(record: dict[str, Any], infra_failed: bool) -> Execution:
    row = from_mapping(Execution, record)
    row.message = bounded(row.message, MAX_MESSAGE)
    row.traceback = bounded(row.traceback, MAX_TRACEBACK, tail=True)
    row.captured_output = bounded(row.captured_output, MAX_OUTPUT, tail=True)
    row.infra = bool(row.infra) or (
        infra_failed
        and row.phase == "setup"
        and str(row.message or "").removeprefix("Failed: ").startswith("stability:")
    )
    failed = row.outcome in FAILING_OUTCOMES
    row.failure_signature = (
        failure_signature(row.message, row.error_type, row.failure_frame) if failed else None
    )
    return row


def _parse_iso(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _ended_at(execution: Execution) -> datetime | None:
    """When a test finished (its start plus its phases); None when unknown."""
    began = _parse_iso(execution.started_at)
    if began is None or execution.outcome in ("timeout", "crashed"):
        return None  # still running when the repetition ended
    spent = sum(d or 0.0 for d in (execution.setup_s, execution.call_s, execution.teardown_s))
    return began + timedelta(seconds=spent)


def _blame_infrastructure(executions: list[Execution], died_at: datetime | None) -> None:
    """Flag as infra the failures that ended after (or just before) a container died."""
    for e in executions:
        if e.outcome not in FAILING_OUTCOMES or e.infra:
            continue
        ended = _ended_at(e)
        if died_at is None or ended is None or ended >= died_at - GRACE:
            e.infra, e.environment = True, False


def _first_explained(executions: list[Execution]) -> str | None:
    """The first test (by start) whose failure a container failure explains."""
    hurt = [e for e in executions if e.infra and e.outcome in FAILING_OUTCOMES]
    hurt.sort(key=lambda e: _parse_iso(e.started_at) or datetime.max.replace(tzinfo=UTC))
    return hurt[0].nodeid if hurt else None


def _container_reasons(failures: list[ContainerFailure], executions: list[Execution]) -> str:
    """`postgres container exited with code 137 (killed) at 12:00:01.25 UTC; first
    failure it explains: T`."""
    parts = []
    for failure in failures:
        text = failure.reason
        if failure.at is not None:
            text += f" at {failure.at:%H:%M:%S.%f}"[:-4] + " UTC"
        parts.append(text)
    text = "; ".join(dict.fromkeys(parts))
    if first := _first_explained(executions):
        text += f"; first failure it explains: {first}"
    return text
