"""Finding and removing containers this tool started (Ryuk is off, so we reap our own)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from stability import labels
from stability.docker_engine import docker_client


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
    filters = [f"{labels.MANAGED}=true"]
    if session is not None:
        filters.append(f"{labels.SESSION}={session}")
    if repetition is not None:
        filters.append(f"{labels.REPETITION}={repetition}")
    client = docker_client()
    found = []
    for c in client.containers.list(all=True, filters={"label": filters}):
        lab = c.labels
        pid = lab.get(labels.OWNER_PID, "")
        found.append(
            ManagedContainer(
                short_id=c.short_id,
                service=lab.get(labels.SERVICE, "?"),
                image=(c.image.tags or [c.image.short_id])[0] if c.image else "?",
                session=lab.get(labels.SESSION),
                repetition=lab.get(labels.REPETITION),
                owner_pid=int(pid)
                if pid.isdigit() and lab.get(labels.OWNER_HOST) == socket.gethostname()
                else None,
                status=c.status,
            )
        )
    return found


def prune_containers(
    only_orphans: bool = True, session: str | None = None, repetition: int | None = None
) -> list[ManagedContainer]:
    """Remove managed containers; with `only_orphans`, only those whose owner process is gone.

    A container whose owner ran on another host (a shared engine) counts as an orphan
    only with `only_orphans=False`, since its owner cannot be checked from here.
    """
    client = docker_client()
    removed = []
    for managed in list_managed(session, repetition):
        if only_orphans and not _owner_gone(managed):
            continue
        try:
            client.containers.get(managed.short_id).remove(force=True, v=True)
        except Exception:  # already gone: another pruner or its owner got there first
            continue
        removed.append(managed)
    return removed


def _owner_gone(managed: ManagedContainer) -> bool:
    if managed.owner_pid is None:
        return False
    try:
        os.kill(managed.owner_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
