"""Reaching the Docker engine, with one clear error when there is none."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from stability.exceptions import DockerUnavailable

if TYPE_CHECKING:
    import docker


def docker_client(timeout: float = 10.0) -> docker.DockerClient:
    """A client that has answered a ping, or DockerUnavailable."""
    import docker
    import docker.errors

    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:
        reason = _reason(str(exc) or type(exc).__name__)
        raise DockerUnavailable(
            f"no Docker engine answers at {where} ({reason}); start one "
            "(`dockerd &` as root, or `systemctl start docker`) or point DOCKER_HOST at it"
        ) from None
    return client


def _reason(text: str) -> str:
    for marker, plain in (
        ("FileNotFoundError", "no such socket"),
        ("ConnectionRefusedError", "connection refused"),
        ("PermissionError", "permission denied"),
    ):
        if marker in text:
            return plain
    return text.splitlines()[0][:200]
