"""Every container a repetition's pytest process creates: labelled, timed and watched.

Under `stability run` the recorder installs `container_patch` in each process that runs
tests. Our fixtures, testcontainers (`PostgresContainer(...)`, any `DockerContainer`) and
plain Docker SDK code all create containers through one call, the SDK's low-level
`create_container`; wrapping it is exact and cheap, where the engine's event stream
would not say which process (so which repetition) asked. The wrapper adds our labels,
so the runner's clean-up by label, `stability containers prune` and any judge of a
repetition's containers see the tests' own containers like ours. It also times each
start: asked -> created -> running, and ready when testcontainers' `start()` (with its
wait strategy) returns. A start that raises (an image that cannot be pulled, a wait that
times out) and a container that ended while nobody had asked it to (exit code, OOM) are
written down here (`WATCH`), and the recorder makes the failing test's execution
infrastructure. Nothing heavy is imported: a suite that never touches Docker pays nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stability.containers.health import state_from_attrs
from stability.records import ContainerStart, ContainerState
from stability.runner.results_file import append_record
from stability.text import first_line

_INSPECT_TIMEOUT_S = 5


@dataclass
class _Container:
    id: str
    image: str
    ours: bool  # started by our fixtures, which record their own start
    asked: float  # epoch seconds: when the code asked for it (the outermost start call)
    nodeid: str | None
    running: float | None = None
    ready: float | None = None
    recorded: bool = False  # its start record is written
    ended: bool = False  # removed, stopped or killed by the code, or found dead


@dataclass
class _Start:
    """One start the code asked for: testcontainers' `start()`, `containers.run(...)`, or a
    bare `create_container` / `start`. Nested calls join the outermost one."""

    image: str
    ours: bool
    asked: float
    waits: bool  # readiness is known only when this call returns (testcontainers)
    containers: list[_Container] = field(default_factory=list)


class Watch:
    """What this process's code did with containers, and what went wrong."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.containers: dict[str, _Container] = {}
        # (begin, end) epoch seconds of every start and stop; end None while in flight
        self.intervals: list[list[float | None]] = []
        self.nodeid: str | None = None  # the test running now
        self.trouble: dict[str | None, list[str]] = {}  # failed starts and deaths, per test
        # What failed starts raised: a fixture's cached error is raised again in the tests
        # after the first, and is still a failed start there.
        self.start_errors: list[BaseException] = []

    # -- the test that runs --------------------------------------------------------

    def test_started(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def blames_containers(self, nodeid: str, error: BaseException | None) -> bool:
        """Whether a failure of test `nodeid` raising `error` is the infrastructure's: a
        container failed to start or died while it ran, or `error` comes from a failed
        start (directly or as a cause)."""
        with self._lock:
            if self.trouble.get(nodeid):
                return True
            failed = {id(e) for e in self.start_errors}
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            if id(error) in failed:
                return True
            seen.add(id(error))
            error = error.__cause__ or error.__context__
        return False

    def container_seconds(self, begin: float, end: float) -> float:
        """Seconds of [begin, end] during which some container was being started (or
        stopped and removed)."""
        with self._lock:
            spans = sorted(
                (max(b, begin), min(e if e is not None else end, end))
                for b, e in self.intervals
                if b is not None and b < end and (e is None or e > begin)
            )
        total, reach = 0.0, begin
        for b, e in spans:
            if e > reach:
                total += e - max(b, reach)
                reach = e
        return total

    def note_interval(self, begin: float, end: float) -> None:
        """A start measured elsewhere (our fixtures' readiness poll), or a stop."""
        with self._lock:
            self.intervals.append([begin, end])

    # -- starts --------------------------------------------------------------------

    @contextmanager
    def start(self, image: str, *, ours: bool, waits: bool) -> Iterator[_Start]:
        """Around a call that starts containers; only the outermost one is recorded."""
        stack: list[_Start] = self._local.__dict__.setdefault("stack", [])
        if stack:
            yield stack[-1]
            return
        current = _Start(str(image), ours, time.time(), waits)
        interval: list[float | None] = [current.asked, None]
        with self._lock:
            self.intervals.append(interval)
        stack.append(current)
        try:
            yield current
        except BaseException as exc:
            interval[1] = time.time()
            if not current.ours and isinstance(exc, Exception) and not _code_error(exc):
                self._failed(current, exc)
            raise
        else:
            interval[1] = now = time.time()
            for container in current.containers:
                if container.running is None:
                    continue  # only created: its start is timed when it starts
                if container.ready is None:
                    container.ready = now if current.waits else container.running
                self._record(container)
        finally:
            stack.pop()

    def created(self, container_id: str, image: str, ours: bool) -> None:
        stack: list[_Start] = self._local.__dict__.get("stack", [])
        outer = stack[0] if stack else None
        container = _Container(
            container_id,
            str(image),
            ours or bool(outer and outer.ours),
            outer.asked if outer else time.time(),
            self.nodeid,
        )
        with self._lock:
            self.containers[container_id] = container
        if outer is not None:
            outer.containers.append(container)
        if not container.ours:  # the runner removes what a repetition created, by label
            append_record("container_created", {"container_id": container_id})

    def running(self, container_ref: Any) -> None:
        container = self.find(container_ref)
        if container is not None and container.running is None:
            container.running = time.time()

    def find(self, container_ref: Any) -> _Container | None:
        ref = container_ref.get("Id") if isinstance(container_ref, dict) else container_ref
        if not isinstance(ref, str) or not ref:
            return None
        with self._lock:
            if ref in self.containers:
                return self.containers[ref]
            matches = [c for cid, c in self.containers.items() if cid.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def _failed(self, start: _Start, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {first_line(str(exc), 300, empty='(no message)')}"
        nodeid = self.nodeid
        with self._lock:
            self.trouble.setdefault(nodeid, []).append(f"{start.image} failed to start: {error}")
            self.start_errors.append(exc)
        created = start.containers[0] if start.containers else None
        record = ContainerStart(
            service=short_name(start.image),
            image=start.image,
            started_at=_iso(start.asked),
            setup_s=round(time.time() - start.asked, 4),
            ok=False,
            error=error,
            origin="tests",
            container_id=created.id if created else None,
            nodeid=nodeid,
        )
        if created is not None:
            created.recorded = True
            if created.running is not None:
                record.running_s = round(created.running - start.asked, 4)
        append_record("container_start", record)

    def _record(self, container: _Container) -> None:
        if container.recorded or container.ours:
            return
        container.recorded = True
        ready_s = None if container.ready is None else round(container.ready - container.asked, 4)
        append_record(
            "container_start",
            ContainerStart(
                service=short_name(container.image),
                image=container.image,
                started_at=_iso(container.asked),
                ready_s=ready_s,
                setup_s=ready_s,
                ok=True,
                origin="tests",
                container_id=container.id,
                nodeid=container.nodeid,
                running_s=None
                if container.running is None
                else round(container.running - container.asked, 4),
            ),
        )

    # -- ends ----------------------------------------------------------------------

    def ending(self, api: Any, container_ref: Any) -> None:
        """The code asks to stop, kill or remove a container: first, did it end before?"""
        container = self.find(container_ref)
        if container is None or container.ended:
            return
        if not self._check(api, container):
            container.ended = True
            self._ended(container, {"ended_at": _now()})

    def check_deaths(self, api: Any | None = None) -> None:
        """Look at every container still up as far as the code knows (a test failed)."""
        with self._lock:
            alive = [c for c in self.containers.values() if not c.ended and c.running]
        if not alive:
            return
        try:
            if api is None:
                import docker

                api = docker.from_env(timeout=_INSPECT_TIMEOUT_S).api
        except Exception:  # no engine to ask: nothing to add
            return
        for container in alive:
            self._check(api, container)

    def _check(self, api: Any, container: _Container) -> bool:
        """Whether `container` had ended already (recorded: a failure exit or vanishing
        is a death, blamed on the test running now)."""
        try:
            attrs = api.inspect_container(container.id)
        except Exception as exc:
            if getattr(exc, "status_code", None) != 404:
                return False  # the engine did not answer: say nothing rather than guess
            attrs = {"Id": container.id, "State": {"Status": "removed"}}  # behind its back
        state = attrs.get("State") or {}
        if state.get("Status") in ("running", "created", "restarting", "paused"):
            return False
        container.ended = True
        exit_code = state.get("ExitCode")
        oom = bool(state.get("OOMKilled"))
        finished = str(state.get("FinishedAt") or "")
        end = {"ended_at": finished if finished and not finished.startswith("0001") else _now()}
        if exit_code == 0 and not oom:  # it finished its job (a one-shot `run`)
            self._ended(container, end)
            return True
        how = "was removed" if state.get("Status") == "removed" else f"exited with {exit_code}"
        with self._lock:
            self.trouble.setdefault(self.nodeid, []).append(
                f"{container.image} container {container.id[:12]} {how}"
                + (" (out of memory)" if oom else "")
                + " while nobody had asked it to stop"
            )
        self._ended(container, {**end, "died": True, "exit_code": exit_code, "oom": oom})
        if not container.ours:  # ours: the fixtures record their state themselves
            # The runner's judge (`container_health`) weighs it like one of ours.
            service = short_name(container.image)
            seen = (
                ContainerState(service, container.id[:12], "gone", error="removed from outside")
                if state.get("Status") == "removed"
                else state_from_attrs(service, attrs)
            )
            append_record("container_state", seen)
        return True

    def _ended(self, container: _Container, details: dict[str, Any]) -> None:
        if container.recorded or container.ours:  # ours: joined to our fixtures' record
            append_record("container_end", {"container_id": container.id, **details})


WATCH = Watch()


# Raised by the calling code's own mistakes (a wrong argument), not by the engine, the
# image or the container: such a start failure is the test's, not the infrastructure's.
_CODE_ERRORS = (
    TypeError,
    AttributeError,
    NameError,
    ValueError,
    LookupError,
    AssertionError,
    ImportError,
    NotImplementedError,
)


def _code_error(exc: BaseException) -> bool:
    return isinstance(exc, _CODE_ERRORS)


def short_name(image: str) -> str:
    """`postgres` from `postgres:16-alpine`, `redis` from `reg.example:5000/lib/redis:7`."""
    name = image.rsplit("/", 1)[-1].split("@", 1)[0]
    return name.split(":", 1)[0] or image


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
