"""Whether a repetition's containers stayed up: a failure only the infrastructure explains.

A container that was killed, OOM-killed, stopped or restarted while a repetition ran, or
an engine that stopped answering, makes the failures after that moment infrastructure's,
not the tests'. The last moment anyone can see a container is just before its owner
removes it, so the state is taken there: the fixtures' service manager inspects each of
its containers before stopping it (a `container_state` record), and the runner inspects
whatever a repetition left behind, by its labels, before removing it. `judge` turns the
states into failures; it takes any list of containers, so containers started some other
way can be judged alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stability.records import ContainerState

# Docker's zero time: the container never stopped.
_NEVER = "0001-01-01T00:00:00Z"
# A test's end is its start plus its phases' durations, which leave out the time between
# phases, and the engine notes a death a moment after the connections broke: on a loaded
# machine the two drift apart by seconds. Failures that ended this long before a
# container died are blamed on it too.
GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class ContainerFailure:
    """One container (or the engine) failing during a repetition."""

    service: str
    reason: str  # e.g. "postgres container exited with code 137 (killed)"
    at: datetime | None  # when it stopped; None when unknown (every failure is blamed)


def state_from_attrs(service: str, attrs: dict[str, Any]) -> ContainerState:
    """A `ContainerState` from `docker inspect`'s attributes (docker SDK `container.attrs`)."""
    state = attrs.get("State") or {}
    finished = state.get("FinishedAt")
    return ContainerState(
        service=service,
        container_id=str(attrs.get("Id") or "")[:12] or None,
        status=str(state.get("Status") or "unknown"),
        exit_code=state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        restart_count=int(attrs.get("RestartCount") or 0),
        started_at=state.get("StartedAt"),
        finished_at=None if not finished or finished == _NEVER else str(finished),
    )


def inspect_container(service: str, container: Any) -> ContainerState:
    """The state of a docker SDK container now; `gone` or `unreachable` when it cannot be."""
    import docker.errors

    try:
        container.reload()
    except docker.errors.NotFound:
        return ContainerState(service, _short(container), "gone", error="removed by someone else")
    except Exception as exc:  # the engine went away (connection refused, time-out, ...)
        return ContainerState(service, _short(container), "unreachable", error=_first(exc))
    return state_from_attrs(service, container.attrs)


def inspect_labelled(session_id: str, number: int) -> list[ContainerState]:
    """The states of the containers still labelled with this repetition (the runner's view)."""
    from stability.containers import labels
    from stability.containers.engine import docker_client
    from stability.exceptions import DockerUnavailable

    filters = [
        f"{labels.MANAGED}=true",
        f"{labels.SESSION}={session_id}",
        f"{labels.REPETITION}={number}",
    ]
    try:
        found = docker_client().containers.list(all=True, filters={"label": filters})
    except DockerUnavailable as exc:
        return [ContainerState("docker", None, "unreachable", error=str(exc))]
    return [inspect_container(c.labels.get(labels.SERVICE, "?"), c) for c in found]


def judge(states: Iterable[ContainerState]) -> list[ContainerFailure]:
    """The containers that failed: not running, OOM-killed, restarted, gone, unreachable.

    States of one container seen twice (by its owner, then by the runner) count once,
    the earlier (first given) one winning.
    """
    failures = []
    seen: set[str] = set()
    for s in states:
        if s.container_id:
            if s.container_id in seen:
                continue
            seen.add(s.container_id)
        reason = _failure_reason(s)
        if reason is not None:
            failures.append(ContainerFailure(s.service, reason, _parse_time(s.finished_at)))
    return failures


def first_failure_at(failures: Iterable[ContainerFailure]) -> datetime | None:
    """When the first container failed; None when some failure's moment is unknown."""
    moments = []
    for failure in failures:
        if failure.at is None:
            return None
        moments.append(failure.at)
    return min(moments) if moments else None


def _failure_reason(s: ContainerState) -> str | None:
    what = f"{s.service} container"
    if s.status == "unreachable":
        return f"the Docker engine stopped answering ({s.error or 'no answer'})"
    if s.status == "gone":
        return f"{what} was removed before the repetition ended"
    if s.oom_killed:
        code = f", exit code {s.exit_code}" if s.status != "running" else ""
        return f"{what} ran out of memory (OOM-killed{code})"
    if s.status != "running":
        return f"{what} {s.status} with code {s.exit_code}{_signal(s.exit_code)}"
    if s.restart_count or s.finished_at:
        return f"{what} restarted"
    return None


def _signal(code: int | None) -> str:
    names = {137: " (killed)", 143: " (terminated)", 139: " (segmentation fault)"}
    return names.get(code or 0, "")


def _parse_time(text: str | None) -> datetime | None:
    """Docker's RFC 3339 time with nanoseconds, to a datetime (microseconds)."""
    if not text:
        return None
    head, _, rest = text.partition(".")
    if rest:  # keep 6 fraction digits, then the zone
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _short(container: Any) -> str | None:
    cid = getattr(container, "id", None)
    return str(cid)[:12] if cid else None


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
