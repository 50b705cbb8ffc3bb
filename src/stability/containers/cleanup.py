"""Finding and removing containers this tool started (Ryuk is off, so we reap our own)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from stability.containers import labels
from stability.containers.engine import docker_client
from stability.exceptions import ContainerRemovalError
from stability.text import first_line


@dataclass(frozen=True)
class ManagedContainer:
    short_id: str
    service: str
    image: str
    session: str | None
    repetition: str | None
    owner_pid: int | None
    status: str


def list_managed(
    session: str | None = None, repetition: int | None = None
) -> list[ManagedContainer]:
    return [managed for managed, _ in _managed(docker_client(), session, repetition)]


def prune_containers(
    only_orphans: bool = True, session: str | None = None, repetition: int | None = None
) -> list[ManagedContainer]:
    """Remove managed containers; with `only_orphans`, only those whose owner process is gone.

    A container whose owner ran on another host (a shared engine) counts as an orphan
    only with `only_orphans=False`, since its owner cannot be checked from here.
    """
    import docker.errors

    removed: list[ManagedContainer] = []
    refused: list[str] = []
    for managed, container in _managed(docker_client(), session, repetition):
        if only_orphans and (managed.owner_pid is None or process_alive(managed.owner_pid)):
            continue
        try:
            container.remove(force=True, v=True)
        except docker.errors.APIError as exc:
            if not already_gone(exc):
                refused.append(f"{managed.short_id} ({_reason(exc)})")
            continue
        removed.append(managed)
    if refused:
        raise ContainerRemovalError(
            f"the Docker engine refused to remove {len(refused)} container(s): "
            + "; ".join(refused),
            list(removed),
        )
    return removed


def already_gone(exc: Exception) -> bool:
    """Whether a removal failed only because the container is gone or going.

    Another pruner, or the container's owner, may get there first: the engine answers
    404, or 409 while a removal is in progress. Anything else is a real refusal.
    """
    status = getattr(exc, "status_code", None)
    if status == 404:
        return True
    text = str(getattr(exc, "explanation", None) or exc).lower()
    return status == 409 and "in progress" in text


def _reason(exc: Exception) -> str:
    return first_line(str(getattr(exc, "explanation", None) or exc), 200, empty=type(exc).__name__)


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _managed(
    client: Any, session: str | None, repetition: int | None
) -> list[tuple[ManagedContainer, Any]]:
    """Our containers (by label), each with the docker-py object to act on."""
    filters = [f"{labels.MANAGED}=true"]
    if session is not None:
        filters.append(f"{labels.SESSION}={session}")
    if repetition is not None:
        filters.append(f"{labels.REPETITION}={repetition}")
    found = []
    for c in client.containers.list(all=True, filters={"label": filters}, ignore_removed=True):
        lab = c.labels
        pid = lab.get(labels.OWNER_PID, "")
        local = pid.isdigit() and lab.get(labels.OWNER_HOST) == socket.gethostname()
        managed = ManagedContainer(
            short_id=c.short_id,
            service=lab.get(labels.SERVICE, "?"),
            image=str((c.attrs.get("Config") or {}).get("Image") or "?"),  # no second lookup
            session=lab.get(labels.SESSION),
            repetition=lab.get(labels.REPETITION),
            owner_pid=int(pid) if local else None,
            status=c.status,
        )
        found.append((managed, c))
    return found
