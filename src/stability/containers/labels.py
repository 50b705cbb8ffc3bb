"""Labels on every container this tool starts, so leftovers can be found and removed."""

from __future__ import annotations

import os
import socket

MANAGED = "dev.pytest-stability.managed"
SERVICE = "dev.pytest-stability.service"
SESSION = "dev.pytest-stability.session"
REPETITION = "dev.pytest-stability.runner.repetition"
OWNER_PID = "dev.pytest-stability.pid"
OWNER_HOST = "dev.pytest-stability.host"
# When the owner process started (clock ticks since boot): a reused pid is another owner.
OWNER_STARTED = "dev.pytest-stability.pid-started"

# Set by `stability run` in each repetition's environment.
SESSION_ENV = "STABILITY_SESSION_ID"
REPETITION_ENV = "STABILITY_REPETITION"


def container_labels(
    service: str, owner: int | None = None, owner_started: str | None = None
) -> dict[str, str]:
    """Our labels; `owner`: the process whose end removes the container (default: this
    one; under `stability run`, the runner, which removes it after the repetition);
    `owner_started`: its start time, when known (default: read now)."""
    owner = os.getpid() if owner is None else owner
    labels = {
        MANAGED: "true",
        SERVICE: service,
        OWNER_PID: str(owner),
        OWNER_HOST: socket.gethostname(),
    }
    if started := owner_started or process_started(owner):
        labels[OWNER_STARTED] = started
    if session := os.environ.get(SESSION_ENV):
        labels[SESSION] = session
    if repetition := os.environ.get(REPETITION_ENV):
        labels[REPETITION] = repetition
    return labels


def process_started(pid: int) -> str | None:
    """When process `pid` started, from /proc (None where there is no /proc, or no pid)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5), after the name
