"""Labels on every container this tool starts, so leftovers can be found and removed."""

from __future__ import annotations

import os
import socket

MANAGED = "dev.pytest-stability.managed"
SERVICE = "dev.pytest-stability.service"
SESSION = "dev.pytest-stability.session"
REPETITION = "dev.pytest-stability.repetition"
OWNER_PID = "dev.pytest-stability.pid"
OWNER_HOST = "dev.pytest-stability.host"

# Set by `stability run` in each repetition's environment.
SESSION_ENV = "STABILITY_SESSION_ID"
REPETITION_ENV = "STABILITY_REPETITION"


def container_labels(service: str) -> dict[str, str]:
    labels = {
        MANAGED: "true",
        SERVICE: service,
        OWNER_PID: str(os.getpid()),
        OWNER_HOST: socket.gethostname(),
    }
    if session := os.environ.get(SESSION_ENV):
        labels[SESSION] = session
    if repetition := os.environ.get(REPETITION_ENV):
        labels[REPETITION] = repetition
    return labels
