"""Containers started ahead of the repetitions that will use them.

While repetition k runs, the pool starts the containers of the next ones (k+1, ...),
each set labelled with the repetition it is for: one container is never handed to two
repetitions, and every repetition still gets containers no earlier one touched. The
repetition's pytest process adopts them (`containers.handoff`); the runner removes them
with the repetition, used or not, and `close()` removes those never handed out.

How far ahead: `depth` sets, from `--jobs` (one set ready per running repetition, one
more starting) and capped by the memory available.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from stability.containers import labels
from stability.containers.config import Settings
from stability.containers.handoff import Handoff, service_key
from stability.exceptions import StabilityError

if TYPE_CHECKING:
    from stability.containers.launch import RunningService, ServiceSpec

SET_MEMORY_BYTES = 256 * 1024 * 1024  # a PostgreSQL and a Redis, generously
Env = dict[str, str]


def pool_depth(jobs: int, available_bytes: int | None = None) -> int:
    """Container sets started ahead: one per job plus one, within a quarter of the
    memory available (at least one)."""
    available = _available_memory() if available_bytes is None else available_bytes
    by_memory = max(1, available // 4 // SET_MEMORY_BYTES) if available else jobs + 1
    return max(1, min(jobs + 1, by_memory))


class ContainerPool:
    def __init__(
        self, session_id: str, settings: Settings, services: Iterable[str], depth: int
    ) -> None:
        self.session_id = session_id
        self.settings = settings
        self.services = sorted(set(services))
        self.depth = depth
        self._ahead: dict[int, Future[Env]] = {}
        self._lock = threading.Lock()
        workers = max(1, depth * len(self.services))
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="stability-pool")
        self._closed = False

    def reserve(self, numbers: Iterable[int]) -> None:
        """Start the containers of these upcoming repetitions, up to `depth` ahead."""
        with self._lock:
            for number in numbers:
                if self._closed or len(self._ahead) >= self.depth:
                    return
                if number not in self._ahead:
                    self._ahead[number] = self._executor.submit(self._start_set, number)

    def take(self, number: int) -> Future[Env] | None:
        """Repetition `number`'s containers (environment entries), if started ahead."""
        with self._lock:
            return self._ahead.pop(number, None)

    def close(self) -> list[int]:
        """Stop starting; the numbers whose containers were started but never taken
        (the caller removes them by their labels)."""
        with self._lock:
            self._closed = True
            left = dict(self._ahead)
            self._ahead.clear()
        for future in left.values():
            future.cancel()
        self._executor.shutdown(wait=True)
        return sorted(n for n, f in left.items() if not f.cancelled())

    # -- in the pool's threads ---------------------------------------------------------

    def _start_set(self, number: int) -> Env:
        """Start every service for repetition `number` side by side; a service that fails
        to start is left out (the repetition starts its own and reports the failure)."""
        threads = {name: _Start(self, name, number) for name in self.services if not self._closed}
        for start in threads.values():
            start.thread.start()
        env: Env = {}
        for start in threads.values():
            start.thread.join()
            if start.handoff is not None:
                env.update(start.handoff.env())
        return env

    def spec(self, name: str) -> ServiceSpec:
        from stability.containers.launch import service_spec
        from stability.containers.services import fresh_spec

        return fresh_spec(service_spec(name, self.settings), self.settings)


class _Start:
    """One service's start for one repetition, in its own thread."""

    def __init__(self, pool: ContainerPool, name: str, number: int) -> None:
        self.pool, self.name, self.number = pool, name, number
        self.handoff: Handoff | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"pool-{name}")

    def _run(self) -> None:
        from stability.containers.launch import start_service

        asked = datetime.now(UTC).isoformat()
        with contextlib.suppress(StabilityError):
            spec = self.pool.spec(self.name)
            settings = self.pool.settings
            unprepared = self.name == "postgres" and not spec.prepared
            if unprepared and (settings.migrations or settings.seed):
                return  # migrations and seed must run in the repetition: it starts its own
            owned = {
                **labels.container_labels(self.name),
                labels.SESSION: self.pool.session_id,
                labels.REPETITION: str(self.number),
            }
            service = start_service(spec, labels=owned)
            self.handoff = _handoff(self.name, service, asked, self.pool.settings)
            if self.name == "postgres" and settings.check_leftovers is not False:
                _warm_for_the_leftover_check(service.url)


def _handoff(name: str, service: RunningService, asked: str, settings: Settings) -> Handoff:
    return Handoff(
        service=name,
        container_id=str(service.container_id),
        image=service.spec.image,
        host=service.host,
        port=service.port,
        ready_s=round(service.ready_s, 4),
        started_at=asked,
        key=service_key(name, settings),
        url=service.url,
        baseline=_baseline(name, service),
    )


def _warm_for_the_leftover_check(url: str) -> None:
    """A fresh server's first reading of the catalogs, sequences and tables the probe
    asks about costs it twice the later ones: done here, the repetition's own probe
    opens sooner (in a thread while pytest collects; the first test waits for whatever
    is left of it). Where the probe takes a snapshot image's baseline and reads none of
    them, measured in a campaign of the 50-table schema while the opening was still in
    the first test: it took 65 ms with this and 125 ms without, for 10 ms more of the
    server's CPU in all (the slot and the first connections are cheaper on a server
    that has read its catalog once). Not measured again since the opening moved to the
    thread."""
    from stability.containers.state_probes import warm_postgres

    with contextlib.suppress(Exception):  # the repetition's probe says what is wrong
        warm_postgres(url)


def _baseline(name: str, service: RunningService) -> str | None:
    if name != "postgres" or not service.spec.prepared:
        return None
    from stability.containers.snapshot import baseline_label

    return baseline_label(service.spec.image)


class BackgroundRemovals:
    """Removes finished repetitions' containers off the repetitions' critical path."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[int]] = []
        self._lock = threading.Lock()

    def remove(self, session_id: str, number: int, late: bool) -> None:
        from stability.runner.repetition import remove_containers

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(2, thread_name_prefix="stability-remove")
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(
                self._executor.submit(remove_containers, session_id, number, late=late)
            )

    def wait(self) -> None:
        """Until every removal asked for so far is done (a refused one is left to the
        reaper and `stability cleanup`)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            with contextlib.suppress(Exception):
                future.result()


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
