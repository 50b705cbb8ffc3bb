"""The services of one pytest session: started lazily, in parallel, at most once.

Each start is measured and written as a `container_start` record for the runner.
A failed start is remembered, so every test that needs the service fails fast with
the same one-line reason instead of retrying a broken engine.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stability.containers.config import Settings
from stability.containers.watch import WATCH
from stability.exceptions import MigrationError, StabilityError
from stability.records import ContainerLog, ContainerStart
from stability.runner.results_file import append_record, recording

if TYPE_CHECKING:
    from stability.containers.launch import RunningService

SERVICES = ("postgres", "redis")


class ServiceManager:
    def __init__(self, settings: Settings, needed: Iterable[str] = ()) -> None:
        self.settings = settings
        self.needed = set(needed)
        self.records: list[ContainerStart] = []
        self._futures: dict[str, Future[RunningService]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> RunningService:
        """The running service `name`, starting every needed service not yet started."""
        with self._lock:
            for wanted in sorted(self.needed | {name}):
                if wanted not in self._futures:
                    self._futures[wanted] = self._submit(wanted)
        return self._futures[name].result()

    def ports(self) -> set[int]:
        """The published ports of the services started so far."""
        return {
            int(f.result().port)
            for f in list(self._futures.values())
            if f.done() and f.exception() is None
        }

    def close(self, keep_logs: bool = False) -> None:
        for name, future in self._futures.items():
            if future.done() and future.exception() is None:
                service = future.result()
                if recording():  # the runner judges whether it stayed up (container_health)
                    append_record("container_state", service.state())
                if keep_logs:
                    append_record("container_logs", ContainerLog(name, service.logs()))
                service.stop()

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

        spec = (containers.postgres_spec if name == "postgres" else containers.redis_spec)(
            self.settings
        )
        record = ContainerStart(name, spec.image, datetime.now(UTC).isoformat())
        asked = time.perf_counter()
        asked_epoch = time.time()
        try:
            service = containers.start_service(spec)
            WATCH.note_interval(asked_epoch, asked_epoch + service.ready_s)
            record.ready_s = round(service.ready_s, 4)
            record.container_id = service.container_id
            if name == "postgres":
                try:
                    self._prepare_database(service.url)
                except BaseException:
                    service.stop()
                    raise
            record.ok = True
            return service
        except StabilityError as exc:
            record.error = str(exc)
            raise
        except Exception as exc:  # an unexpected failure is still infrastructure
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record.setup_s = round(time.perf_counter() - asked, 4)
            self.records.append(record)
            append_record("container_start", record)

    def _prepare_database(self, url: str) -> None:
        if self.settings.migrations is not None:
            apply_migrations(url, self.settings.migrations)
        if self.settings.seed is not None:
            run_seed(url, self.settings.seed, self.settings.project_root or Path.cwd())


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
