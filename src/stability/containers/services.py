"""The services of one pytest session: started lazily, in parallel, at most once.

Each start is measured and written as a `container_start` record for the runner.
A failed start is remembered, so every test that needs the service fails fast with
the same one-line reason instead of retrying a broken engine.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stability.containers.config import Settings
from stability.containers.handoff import Handoff, service_key
from stability.containers.labels import container_labels
from stability.containers.snapshot import snapshot_spec
from stability.containers.watch import WATCH
from stability.exceptions import MigrationError, StabilityError
from stability.records import ContainerLog, ContainerStart
from stability.runner.results_file import (
    RUNNER_PID_ENV,
    RUNNER_STARTED_ENV,
    append_record,
    recording,
)

if TYPE_CHECKING:
    from stability.containers.launch import RunningService, ServiceSpec

SERVICES = ("postgres", "redis")
DRIVERS = {"postgres": "psycopg", "redis": "redis"}  # what the fixtures import


_preloads: list[threading.Thread] = []


def preload_drivers(services: Iterable[str]) -> None:
    """Import the drivers the fixtures of `services` use, in the background
    (`wait_for_preloads` before the process ends)."""
    modules = [DRIVERS[name] for name in sorted(services) if name in DRIVERS]
    thread = threading.Thread(
        target=_import_quietly, args=(modules,), daemon=True, name="stability-preload"
    )
    thread.start()
    _preloads.append(thread)


def wait_for_preloads(timeout_s: float = 10.0) -> None:
    """Let the background imports finish: a daemon thread stopped at exit in the middle
    of one can hold a lock (an import's, `logging`'s) that the interpreter's own exit then
    waits for, for ever. A short session (`--collect-only`, a few unit tests) waits here
    for what is left of them."""
    deadline = time.monotonic() + timeout_s
    while _preloads:
        _preloads.pop().join(max(0.0, deadline - time.monotonic()))


def _runner_pid() -> int | None:
    """The `stability run` process this one records for, if any."""
    runner = os.environ.get(RUNNER_PID_ENV, "")
    return int(runner) if recording() and runner.isdigit() else None


def _import_quietly(modules: list[str]) -> None:
    for module in modules:
        with contextlib.suppress(Exception):  # the fixture that needs it reports it
            importlib.import_module(module)


class ServiceManager:
    def __init__(
        self,
        settings: Settings,
        needed: Iterable[str] = (),
        handed: Mapping[str, Handoff] | None = None,
    ) -> None:
        self.settings = settings
        self.needed = set(needed)
        self.handed = dict(handed or {})  # containers the runner started ahead for us
        self.records: list[ContainerStart] = []
        self._futures: dict[str, Future[RunningService]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._unpublished: dict[str, ContainerStart] = {}  # starts done, not yet recorded

    def get(self, name: str) -> RunningService:
        """The running service `name`, starting every needed service not yet started."""
        self._start_needed(also=name)
        asked = time.perf_counter()
        try:
            return self._futures[name].result()
        finally:
            self._publish(name, waited=time.perf_counter() - asked)

    def start_early(self) -> None:
        """Start every needed service now, and load the drivers the fixtures will use,
        without waiting for either."""
        self._start_needed()
        preload_drivers(self.needed)

    def _start_needed(self, also: str | None = None) -> None:
        """Start every needed service (and `also`) not started yet."""
        with self._lock:
            for wanted in sorted(self.needed | ({also} if also else set())):
                if wanted not in self._futures:
                    self._futures[wanted] = self._submit(wanted)

    def ports(self) -> set[int]:
        """The published ports of the services started so far."""
        return {
            int(f.result().port)
            for f in list(self._futures.values())
            if f.done() and f.exception() is None
        }

    def close(self, keep_logs: bool = False) -> None:
        """Record how each service ended and remove it. Under `stability run` the runner
        removes them after the process, out of the repetition's time; here they are
        removed side by side. Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        for name in list(self._unpublished):
            self._publish(name, waited=None)
        services = [
            (name, future.result())
            for name, future in self._futures.items()
            if future.done() and future.exception() is None
        ]
        for name, service in services:
            if keep_logs:
                append_record("container_logs", ContainerLog(name, service.logs()))
        if _runner_pid() is not None:  # it inspects them (did they stay up?) and removes them
            return
        stoppers = [threading.Thread(target=s.stop, daemon=True) for _, s in services]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()

    def _submit(self, name: str) -> Future[RunningService]:
        """Start `name` in a daemon thread: an interrupted pytest exits without waiting for
        a start still in flight (the reaper removes that container once the process is gone)."""
        future: Future[RunningService] = Future()

        def work() -> None:
            try:
                future.set_result(self._start(name))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=work, daemon=True, name=f"stability-{name}").start()
        return future

    def _start(self, name: str) -> RunningService:
        from stability.containers import launch as containers

        spec = containers.service_spec(name, self.settings)
        record = ContainerStart(name, spec.image, datetime.now(UTC).isoformat())
        asked = time.perf_counter()
        asked_epoch = time.time()
        try:
            service = self._adopt(name, spec, record)
            if service is None:
                spec = fresh_spec(spec, self.settings)
                record.image = spec.image
                service = containers.start_service(spec, self._labels(name))
                WATCH.note_interval(asked_epoch, asked_epoch + service.ready_s)
                if not spec.prepared and name == "postgres":
                    try:
                        prepare_database(service.url, self.settings)
                    except BaseException:
                        service.stop()
                        raise
            record.ready_s = round(service.ready_s, 4)
            record.container_id = service.container_id
            record.ok = True
            return service
        except StabilityError as exc:
            record.error = str(exc)
            raise
        except Exception as exc:  # an unexpected failure is still infrastructure
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            # a pooled container's own cost was paid ahead: its start, not ours
            took = round(time.perf_counter() - asked, 4)
            record.setup_s = record.ready_s if record.pooled else took
            with self._lock:
                self._unpublished[name] = record

    def _publish(self, name: str, waited: float | None) -> None:
        """Record a finished start once, with how long the first test that asked for
        it waited (None: no test asked)."""
        with self._lock:
            record = self._unpublished.pop(name, None)
        if record is None:
            return
        record.wait_s = None if waited is None else round(waited, 4)
        self.records.append(record)
        append_record("container_start", record)

    def _labels(self, name: str) -> dict[str, str] | None:
        """Under `stability run` the runner owns our containers: they outlive this
        process until it has inspected and removed them (or its own end removes them)."""
        runner = _runner_pid()
        if runner is None:
            return None
        return container_labels(
            name, owner=runner, owner_started=os.environ.get(RUNNER_STARTED_ENV)
        )

    def _adopt(self, name: str, spec: ServiceSpec, record: ContainerStart) -> RunningService | None:
        """The container the runner started ahead for this service, if it fits."""
        from stability.containers.launch import adopt_service

        handed = self.handed.pop(name, None)
        if handed is None or handed.key != service_key(name, self.settings):
            return None
        # adopted lazily: a container gone meanwhile fails the test that uses it, and the
        # runner's inspection calls that infrastructure
        service = adopt_service(spec, handed.container_id, handed.host, handed.port, handed.ready_s)
        record.pooled, record.image, record.started_at = True, handed.image, handed.started_at
        return service


def fresh_spec(spec: ServiceSpec, settings: Settings) -> ServiceSpec:
    """`spec` for a container started now: PostgreSQL from its snapshot image (made
    first when missing) unless snapshots are off."""
    if spec.name != "postgres" or not settings.snapshot:
        return spec
    return snapshot_spec(spec, settings, lambda url: prepare_database(url, settings))


def prepare_database(url: str, settings: Settings) -> None:
    """The configured migrations, then the seed."""
    if settings.migrations is not None:
        apply_migrations(url, settings.migrations)
    if settings.seed is not None:
        run_seed(url, settings.seed, settings.project_root or Path.cwd())


def apply_migrations(url: str, folder: Path) -> list[str]:
    """Apply every `.sql` file of `folder` in name order, each in its own transaction."""
    import psycopg

    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} does not exist")
    applied = []
    with psycopg.connect(url) as conn:
        for path in sorted(folder.glob("*.sql")):
            try:
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8").encode())
            except psycopg.Error as exc:
                reason = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                raise MigrationError(f"migration {path.name} failed: {reason}") from None
            applied.append(path.name)
    return applied


def run_seed(url: str, target: str, project_root: Path) -> None:
    """Call `module:function` with a connection; its writes are committed."""
    import psycopg

    module_name, _, func_name = target.partition(":")
    if str(project_root) not in sys.path:
        sys.path.insert(0, str(project_root))
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise MigrationError(f"seed {target!r} cannot be loaded: {exc}") from None
    with psycopg.connect(url) as conn:
        try:
            func(conn)
            conn.commit()
        except Exception as exc:
            raise MigrationError(f"seed {target} failed: {type(exc).__name__}: {exc}") from None
