"""`stability run`: repeat test targets in fresh pytest processes and keep every result.

A campaign (a session) runs repetitions 1..N, K at a time, each a fresh
`python -m pytest TARGETS ARGS` with its own containers (`repetition`). Each finished
repetition is ingested in one transaction right away, from this (main) thread only, so
killing the runner at any moment keeps every completed repetition and `--resume` carries
on. Ctrl-C (or SIGTERM) kills the running repetitions, removes their containers and
marks the session interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from stability.analysis.rules import RED_REPETITION_STATUSES, status_of
from stability.containers.cleanup import process_alive
from stability.containers.config import load_settings
from stability.exceptions import UsageError
from stability.records import Session
from stability.runner.gitinfo import environment_info
from stability.runner.limits import MAX_JOBS, MAX_REPEAT
from stability.runner.order_env import SEED_LIMIT
from stability.runner.pending import PendingNumbers
from stability.runner.pool import BackgroundRemovals, ContainerPool, pool_depth
from stability.runner.prestart import Spares
from stability.runner.progress import Progress, QuietProgress
from stability.runner.repetition import (
    ProcessRegistry,
    RepetitionResult,
    RepetitionSpec,
    run_repetition,
    runner_env,
)
from stability.runner.shards import Shard
from stability.store import ingest
from stability.store.db import DEFAULT_DB, check_writable, connect, resolve_db_path
from stability.store.ingest import RepetitionRows
from stability.store.queries import run_counts
from stability.text import first_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a SIGTERM
_POLL_S = 0.2
# Repetitions are written together at most this often: each opening of the history
# costs about 50 ms of CPU, taken from the repetitions running. A runner killed outright
# loses what ended in the last STORE_EVERY_S; `--resume` runs those again.
STORE_EVERY_S = 3.0


@dataclass
class RunOptions:
    targets: list[str]
    repeat: int | None
    jobs: int = 1
    timeout: float | None = None
    until_fail: bool = False
    label: str | None = None
    db: Path = DEFAULT_DB
    pytest_args: list[str] = field(default_factory=list)
    resume: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    shuffle: bool = False  # each repetition in its own random order of the tests
    seed: int | None = None  # repetition n shuffles with seed + n - 1 (implies shuffle)
    in_process: int = 1  # runs of each test back to back in one process
    shard: Shard | None = None  # this machine's share of the repetition numbers
    session_id: str | None = None  # given (shared by every shard), else a new one
    pool: bool = True  # start the next repetitions' containers while earlier ones run
    prestart: bool = True  # start the next repetitions' processes while earlier ones run

    def __post_init__(self) -> None:
        # The CLI checks these with its flags' names; here they are the library's contract.
        if self.repeat is None and not self.resume:
            raise ValueError("a new session needs a repeat count")
        if self.repeat is not None and not 1 <= self.repeat <= MAX_REPEAT:
            raise ValueError(f"repeat must be from 1 to {MAX_REPEAT}, got {self.repeat}")
        if not 1 <= self.jobs <= MAX_JOBS:
            raise ValueError(f"jobs must be from 1 to {MAX_JOBS}, got {self.jobs}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.in_process < 1:
            raise ValueError(f"in_process must be at least 1, got {self.in_process}")
        if self.seed is not None and not 0 <= self.seed < SEED_LIMIT:
            raise ValueError(f"seed must be from 0 to {SEED_LIMIT - 1}, got {self.seed}")


@dataclass
class RunOutcome:
    exit_code: int
    summary: dict[str, Any]


def new_session_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def validate_targets(targets: list[str], pytest_args: list[str], cwd: Path) -> None:
    """Every target is a directory or a test file that exists (node ids by their file)."""
    if not targets:
        raise UsageError("give at least one test file, directory or node id to run")
    doctests = any(a.startswith(("--doctest-glob", "--doctest-modules")) for a in pytest_args)
    for target in targets:
        path_part = target.split("::", 1)[0]
        path = cwd / path_part
        if not path_part or not path.exists():
            raise UsageError(f"target {target!r} does not exist")
        if path.is_dir():
            if "::" in target:
                raise UsageError(f"target {target!r}: a node id needs a file, not a directory")
            continue
        if path.suffix != ".py" and not doctests:
            raise UsageError(
                f"target {target!r} is not a pytest target (expected a directory, a .py "
                "file or a node id such as tests/test_x.py::test_y)"
            )


def pytest_command(targets: list[str], pytest_args: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "pytest", *targets, *pytest_args]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):  # the recorder still has to load
        argv[3:3] = ["-p", "stability.plugin"]
    return argv


class Campaign:
    def __init__(self, options: RunOptions, progress: Progress | None = None) -> None:
        self.options = options
        self.progress = progress or QuietProgress()
        self.db = resolve_db_path(options.db)
        self.registry = ProcessRegistry()
        self.interrupt = threading.Event()
        self.signals: list[int] = []  # the signals that stopped the run
        self.session_id = ""
        self.repeat = 0
        self.targets: list[str] = []
        self.pytest_args: list[str] = []
        self.failed_reps = 0
        self.shuffle = options.shuffle or options.seed is not None
        self.seed = options.seed
        self.in_process = options.in_process
        self.shard: Shard | None = options.shard
        self.ran_tests = False  # some repetition of this run recorded an execution
        self._already = 0  # repetitions a resumed session had completed
        self._unwritten: Session | None = None  # a new session not yet in the history
        self.ahead: ContainerPool | None = None  # containers started ahead of repetitions
        self.spares: Spares | None = None  # processes started ahead of repetitions
        self.removals = BackgroundRemovals()
        self._unstored: list[RepetitionRows] = []  # ended, not written yet (`_store`)
        self._stored_at = -STORE_EVERY_S  # the first repetition is written at once

    # -- set-up ---------------------------------------------------------------------

    def prepare(self) -> PendingNumbers:
        """Validate everything, then open (or reopen) the session; the numbers to run.

        Nothing is written before every input is known to be good.
        """
        o = self.options
        if o.resume is not None:
            return self._prepare_resume()
        assert o.repeat is not None  # RunOptions asks for it without a session to resume
        self.repeat = o.repeat
        if self.shard and not o.session_id:
            raise UsageError(
                "a shard needs a session id, the same for every shard, so that "
                "`stability merge` can join them into one session"
            )
        if self.shard and not self._pending().total:
            raise UsageError(
                f"shard {self.shard} gets no repetition of {o.repeat}: "
                "use at most as many shards as repetitions"
            )
        validate_targets(o.targets, o.pytest_args, o.cwd)
        load_settings(o.cwd)  # a bad [tool.stability] or STABILITY_* value: before any write
        check_writable(self.db)
        self.session_id, self.repeat = o.session_id or new_session_id(), o.repeat
        self.targets, self.pytest_args = list(o.targets), list(o.pytest_args)
        if o.session_id and ingest.session_exists(self.db, o.session_id):
            raise UsageError(
                f"session {o.session_id} already exists in {self.db}: give this run its own "
                f"id, carry it on with --resume {o.session_id}, or run each shard into its "
                "own file and `stability merge` them"
            )
        # written with the first repetition that shows the input is good (it ran tests)
        self._unwritten = Session(
            id=self.session_id,
            started_at=datetime.now(UTC),
            label=o.label,
            targets=self.targets,
            repeat=self.repeat,
            options=json.dumps(self._options_row(), default=str),
            status="running",
            **environment_info(o.cwd),
        )
        return self._pending()

    def _pending(self, done: set[int] | frozenset[int] = frozenset()) -> PendingNumbers:
        """The numbers this run owes: 1..N, or this shard's share of them, minus `done`."""
        if self.shard:
            return PendingNumbers(self.repeat, done, start=self.shard.index, step=self.shard.count)
        return PendingNumbers(self.repeat, done)

    def _write_session(self) -> None:
        if self._unwritten is not None:
            ingest.create_session(self.db, self._unwritten)
            self._unwritten = None

    def _prepare_resume(self) -> PendingNumbers:
        o = self.options
        assert o.resume is not None
        if not o.resume.strip():
            raise UsageError("--resume needs a session id, got an empty one")
        if o.targets:
            raise UsageError("a resumed session runs its own targets: give no targets")
        if o.session_id:
            raise UsageError("a resumed session keeps its own id: give no session id")
        stored = ingest.load_session(self.db, o.resume)
        stored_shard = stored.options.get("shard")
        if self.shard and str(self.shard) != stored_shard:
            raise UsageError(
                f"session {stored.id} ran as shard {stored_shard or '(none)'}, "
                f"not --shard {self.shard}"
            )
        if stored_shard and not self.shard:
            from stability.runner.shards import parse_shard

            self.shard = parse_shard(str(stored_shard))
        _refuse_if_still_running(stored.id, stored.status, stored.options)
        if o.repeat is not None and o.repeat < stored.repeat:
            raise UsageError(
                f"session {stored.id} was asked for {stored.repeat} repetitions "
                f"({len(stored.completed)} stored); --resume can raise N, not lower it: "
                f"give --repeat {stored.repeat} or more, or none"
            )
        self.session_id, self.repeat = stored.id, o.repeat or stored.repeat
        self.targets = stored.targets
        self.pytest_args = o.pytest_args or list(stored.options.get("pytest_args") or [])
        # the stored session's orders and attempts, unless given again
        self.shuffle = self.shuffle or bool(stored.options.get("shuffle"))
        if self.seed is None and isinstance(stored.options.get("seed"), int):
            self.seed = stored.options["seed"]
        if o.in_process == 1 and isinstance(stored.options.get("in_process"), int):
            self.in_process = stored.options["in_process"]
        validate_targets(self.targets, self.pytest_args, o.cwd)
        load_settings(o.cwd)
        ingest.reopen_session(self.db, self.session_id, self.repeat, self._options_row())
        # a killed earlier runner's repetitions may have left containers behind
        remove_leftovers(self.session_id, stored.completed)
        pending = self._pending(stored.completed)
        self._already = sum(1 for n in stored.completed if n in pending)
        self.failed_reps = sum(1 for n in stored.not_passed if n in pending)
        return pending

    def _options_row(self) -> dict[str, Any]:
        o = self.options
        return {
            "jobs": o.jobs,
            "timeout": o.timeout,
            "until_fail": o.until_fail,
            "pytest_args": self.pytest_args,
            "resumed": bool(o.resume),
            "shuffle": self.shuffle,
            "seed": self.seed,
            "in_process": self.in_process,
            "shard": str(self.shard) if self.shard else None,
            # who runs it, so a --resume can tell a killed runner from a live one
            "runner_pid": os.getpid(),
            "runner_host": socket.gethostname(),
        }

    # -- the loop -------------------------------------------------------------------

    def run(self) -> RunOutcome:
        numbers = self.prepare()
        status = "completed"
        previous = _install_signal_handlers(self.interrupt, self.signals)
        try:
            self.progress.start(self._pending().total, self._already, self.failed_reps)
            status = self._loop(numbers)
        except KeyboardInterrupt:  # a second Ctrl-C: stop now
            self.registry.kill_all()
            status = "interrupted"
        finally:
            _restore_signal_handlers(previous)
            self.progress.close()
        self._write_session()  # stopped before any repetition ended: kept, to --resume
        ingest.finish_session(self.db, self.session_id, status)
        return self._outcome(status)

    def _loop(self, pending: PendingNumbers) -> str:
        argv = pytest_command(self.targets, self.pytest_args)
        status = "completed"
        free = list(range(1, min(self.options.jobs, len(pending)) + 1))
        running: dict[Future[RepetitionResult], int] = {}
        with ThreadPoolExecutor(self.options.jobs, thread_name_prefix="repetition") as pool:

            def schedule() -> None:
                while pending and free and status == "completed":
                    spec = RepetitionSpec(
                        self.session_id,
                        pending.popleft(),
                        free.pop(0),
                        argv,
                        self.options.cwd,
                        self.options.timeout,
                    )
                    spec = replace(
                        spec,
                        seed=self.seed_of(spec.number),
                        in_process=self.in_process,
                        containers=self.ahead.take(spec.number) if self.ahead else None,
                        spare=self.spares.take(len(pending)) if self.spares else None,
                    )
                    running[
                        pool.submit(run_repetition, spec, self.registry, self.removals.remove)
                    ] = spec.worker
                if self.ahead is not None:
                    self.ahead.reserve(pending.upcoming(self.ahead.depth))

            try:
                while pending or running:
                    schedule()
                    done, _ = wait(running, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                    if self.interrupt.is_set() and status != "interrupted":
                        status = "interrupted"
                        pending.clear()
                        self._stop_running(running)
                    results = []
                    for future in done:
                        free.append(running.pop(future))
                        results.append(future.result())
                    free.sort()
                    results = [r for r in results if not r.interrupted]
                    results.sort(key=lambda r: r.number)
                    if (
                        self.options.until_fail
                        and status == "completed"
                        and any(r.status in RED_REPETITION_STATUSES for r in results)
                    ):
                        status = "stopped_at_failure"
                        pending.clear()
                    for result in results:
                        try:
                            self._check_usage(result)
                        except UsageError:
                            self._stop_running(running, quiet=True)
                            self._flush()  # the repetitions before it stay recorded
                            if self._unwritten is not None:  # nothing written: keep it so
                                raise
                            if not ingest.discard_session(self.db, self.session_id):
                                ingest.finish_session(self.db, self.session_id, "interrupted")
                            raise
                        self._start_pool_after(result)
                        self._start_spares_after(result, argv, len(pending))
                    schedule()  # the input is good: start the next ones, storing overlaps them
                    for result in results:
                        self._store(result)
                self._flush()
            except BaseException:  # a failed write, a second Ctrl-C: leave nothing running
                self.registry.kill_all()
                with contextlib.suppress(Exception):  # what ended is kept, if it can be
                    self._flush()
                raise
            finally:
                self._close_pool()
        return status

    def _start_pool_after(self, result: RepetitionResult) -> None:
        """Once a repetition shows which of our services the tests use, start the next
        repetitions' containers ahead of them (`runner.pool`)."""
        if self.ahead is not None or not self.options.pool:
            return
        services = {
            s.service for s in result.rows.container_starts if s.origin == "stability" and s.ok
        }
        if services:
            settings = load_settings(self.options.cwd)
            depth = pool_depth(self.options.jobs)
            self.ahead = ContainerPool(self.session_id, settings, services, depth)

    def _start_spares_after(self, result: RepetitionResult, argv: list[str], left: int) -> None:
        """Once a repetition shows what its tests import of ours, start the next
        repetitions' processes ahead of them (`runner.prestart`)."""
        if self.spares is not None or not self.options.prestart or not Spares.usable(argv):
            return
        from stability.containers.services import DRIVERS  # what our fixtures import

        used = {s.service for s in result.rows.container_starts if s.origin == "stability"}
        preload = [module for service, module in DRIVERS.items() if service in used]
        self.spares = Spares(argv, self.options.cwd, runner_env, preload, self.options.jobs)
        self.spares.fill(left)

    def _close_pool(self) -> None:
        """Remove the containers started ahead for repetitions that never ran, and wait
        for the removals in flight; end the processes started ahead."""
        if self.spares is not None:
            self.spares.close()
            self.spares = None
        if self.ahead is not None:
            for number in self.ahead.close():
                self.removals.remove(self.session_id, number, False)
            self.ahead = None
        self.removals.wait()

    def seed_of(self, number: int) -> int | None:
        """Repetition `number`'s order: random, or `--seed S` + number - 1 (so
        `--seed X --repeat 1` replays the order recorded with seed X)."""
        if not self.shuffle:
            return None
        if self.seed is None:
            return secrets.randbelow(SEED_LIMIT)
        return (self.seed + number - 1) % SEED_LIMIT

    def _stop_running(
        self, running: dict[Future[RepetitionResult], int], *, quiet: bool = False
    ) -> None:
        killed = self.registry.kill_all()
        if killed and not quiet:
            self.progress.note(f"stopping: killed repetition(s) {_numbers(killed)}")
        # each repetition's thread removes its containers once its process is gone
        wait(running)

    def _check_usage(self, result: RepetitionResult) -> None:
        """Bad input found once running, before any test ran: not a result to keep.

        pytest refusing the arguments, finding no tests, or failing to import a test
        file or a conftest.py (a syntax error, a missing module) in the first repetition
        that reports: the same one line and exit 2 for each, naming the file.
        """
        collect_errors = [e for e in result.rows.executions if e.phase == "collect"]
        if len(collect_errors) < len(result.rows.executions):
            self.ran_tests = True
            return
        if self.ran_tests:
            return
        if collect_errors:
            first = collect_errors[0]
            raise UsageError(f"pytest cannot collect {first.nodeid}: {_reason(first.message)}")
        if result.exit_code not in (4, 5):
            return
        lines = [line.strip() for line in result.output_tail.splitlines() if line.strip()]
        if result.exit_code == 4:
            reason = next((ln for ln in reversed(lines) if "error" in ln.lower()), "usage error")
            conftest = next((ln for ln in lines if "while loading conftest" in ln), None)
            if conftest is not None:
                where = conftest.split("'")[1] if conftest.count("'") >= 2 else "conftest.py"
                raise UsageError(f"pytest cannot load {_relative(where)}: {_reason(reason)}")
            raise UsageError(f"pytest refused the arguments: {reason}")
        raise UsageError(
            f"pytest collected no tests from {' '.join(self.targets)}"
            + (f" with {shlex.join(self.pytest_args)}" if self.pytest_args else "")
        )

    def _store(self, result: RepetitionResult) -> None:
        """Count it now; write it with the others that ended within STORE_EVERY_S."""
        result.rows.repetition.shard = str(self.shard) if self.shard else None
        result.rows.repetition.host = socket.gethostname()
        self._unstored.append(result.rows)
        if result.status != "passed":
            self.failed_reps += 1
        self.progress.advance(result.number, result.status, result.wall_s, self.failed_reps)
        if time.monotonic() - self._stored_at >= STORE_EVERY_S:
            self._flush()

    def _flush(self) -> None:
        """Write the repetitions that ended and are not in the history yet."""
        if self._unstored:
            self._write_session()
            ingest.ingest_repetitions(self.db, self._unstored)
            self._unstored = []
        self._stored_at = time.monotonic()

    # -- the end --------------------------------------------------------------------

    def _outcome(self, status: str) -> RunOutcome:
        summary = session_summary(self.db, self.session_id)
        reps = summary["repetitions"]
        if status == "interrupted":
            code = EXIT_TERMINATED if signal.SIGTERM in self.signals else EXIT_INTERRUPTED
        elif any(reps.get(s) for s in RED_REPETITION_STATUSES):
            code = EXIT_FAILED
        elif reps.get("infra") and reps.get("infra") == summary["repetitions_done"]:
            code = EXIT_INFRA  # every repetition: the numbers say nothing about the tests
        elif summary["flaky_tests"] or summary["failing_tests"]:
            code = EXIT_FAILED
        else:
            code = EXIT_OK
        db_arg = "" if self.db == DEFAULT_DB else f" --db {shlex.quote(str(self.db))}"
        summary.update(
            {
                "session": self.session_id,
                "status": status,
                "exit_code": code,
                "repeat": self.repeat,
                "shard": str(self.shard) if self.shard else None,
                "db": str(self.db),
                "label": self.options.label,
                "report_command": f"stability report --session {self.session_id}{db_arg}",
                "resume_command": (
                    f"stability run --resume {self.session_id}{db_arg}"
                    if status == "interrupted"
                    else None
                ),
            }
        )
        return RunOutcome(code, summary)


def session_summary(db: Path, session_id: str) -> dict[str, Any]:
    """Counts for the end-of-run summary, over the whole session (resumed parts too),
    classified by the same rules as every report (`analysis.rules`)."""
    with connect(db, "read") as conn:
        counts = run_counts(conn, session_id)
    return {
        "repetitions": counts.repetitions,
        "repetitions_done": sum(counts.repetitions.values()),
        "outcomes": counts.outcomes,
        "executions": sum(counts.outcomes.values()),
        "tests": len(counts.tests),
        "flaky_tests": [t.nodeid for t in counts.tests if status_of(t) == "flaky"],
        "failing_tests": [t.nodeid for t in counts.tests if status_of(t) == "broken"],
        "problems": [
            {"status": st, "repetitions": n, "first": first, "error": first_line(err)}
            for st, err, n, first in counts.problems
        ],
    }


def remove_leftovers(session_id: str, completed: set[int]) -> None:
    """Containers of repetitions that never completed (their runner was killed)."""
    from stability.containers.cleanup import prune_containers
    from stability.exceptions import StabilityError

    try:
        leftovers = {
            int(c.repetition)
            for c in _list_session(session_id)
            if c.repetition and c.repetition.isdigit()
        }
    except StabilityError:  # no Docker engine: nothing to remove
        return
    for number in sorted(leftovers - completed):
        # only orphans: a process of the killed runner may still be stopping its own
        prune_containers(only_orphans=True, session=session_id, repetition=number)


def _list_session(session_id: str) -> list[Any]:
    from stability.containers.cleanup import list_managed

    return list(list_managed(session=session_id))


def _reason(message: str | None) -> str:
    """`E   SyntaxError: invalid syntax` -> `SyntaxError: invalid syntax`."""
    text = (message or "").strip().splitlines()
    return text[-1].removeprefix("E").strip()[:300] if text else "unknown error"


def _relative(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


_Handler = Any


def _install_signal_handlers(event: threading.Event, seen: list[int]) -> dict[int, _Handler]:
    """SIGINT/SIGTERM set `event` (the loop stops cleanly); a second SIGINT is immediate.

    Each signal received is appended to `seen` (the exit code tells which one).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        if event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        event.set()

    previous: dict[int, _Handler] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, _Handler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _refuse_if_still_running(session_id: str, status: str | None, options: dict[str, Any]) -> None:
    """A session whose runner is alive on this host is not resumed twice at once."""
    pid = options.get("runner_pid")
    if status != "running" or options.get("runner_host") != socket.gethostname():
        return
    if not isinstance(pid, int) or pid == os.getpid():
        return
    if not process_alive(pid):
        return  # the runner was killed: resuming is what --resume is for
    raise UsageError(
        f"session {session_id} is still being run by process {pid}; "
        "wait for it to finish or stop it, then --resume"
    )
