"""Reaching the Docker engine, with one clear error when there is none."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from stability.exceptions import DockerUnavailable

if TYPE_CHECKING:
    import docker


# One client a process, engine and time-out, shared by its threads: making one asks the
# engine its API version, and the runner asks for a client several times a repetition.
_clients: dict[tuple[int, str, int], docker.DockerClient] = {}
_lock = threading.Lock()


def docker_client(timeout: float = 10.0) -> docker.DockerClient:
    """A client that has answered a ping just now, or DockerUnavailable."""
    import docker
    import docker.errors

    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    key = (os.getpid(), where, int(timeout))
    with _lock:
        kept = _clients.get(key)
    if kept is not None:
        try:
            kept.ping()
            return kept
        except Exception:  # a connection the engine closed, an engine restarted: anew
            pass
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:
        reason = _reason(str(exc) or type(exc).__name__)
        raise DockerUnavailable(
            f"no Docker engine answers at {where} ({reason}); start one "
            "(`dockerd &` as root, or `systemctl start docker`) or point DOCKER_HOST at it"
        ) from None
    with _lock:
        if _clients.get(key) is kept:  # else another thread made one meanwhile: keep theirs
            _clients[key] = client
        return _clients[key]


def _reason(text: str) -> str:
    for marker, plain in (
        ("FileNotFoundError", "no such socket"),
        ("ConnectionRefusedError", "connection refused"),
        ("PermissionError", "permission denied"),
    ):
        if marker in text:
            return plain
    return text.splitlines()[0][:200]
