"""Our containers on the engine's host network, when that host is this one.

A container on Docker's default bridge network costs the engine a network namespace,
a veth pair, NAT rules and a `docker-proxy` process for its published port. Measured on
a 2-core machine, a Redis create/start/remove cycle took 0.46 s of CPU that way and
0.23 s on the host network; a campaign pays it twice a repetition. So when the engine
runs on this machine and shares its loopback, our PostgreSQL and Redis listen on
127.0.0.1 at a free port we pick, on the host network: nothing outside this machine can
reach them, and nothing is published.

`network = "bridge"` (or STABILITY_NETWORK=bridge) keeps the bridge and published
ports; `"host"` forces the host network; `"auto"` (the default) decides by asking the
engine (once a process): a Linux engine, not rootless, not Docker Desktop, whose host
name is ours (so not a Docker-outside-of-Docker set-up, where the engine's loopback is
another machine's).
"""

from __future__ import annotations

import functools
import os
import random
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

NETWORK_CHOICES = ("auto", "host", "bridge")
LOOPBACK = "127.0.0.1"
_LOCAL_SOCKETS = ("unix:///var/run/docker.sock", "unix:///run/docker.sock")

_lock = threading.Lock()  # the verdict and the ports handed out
_verdict: bool | None = None
_handed_out: set[int] = set()  # ports picked by this process: never picked twice
_FIRST_PORT = 20000
_random = random.SystemRandom()


def use_host_network(setting: str, client: Any) -> bool:
    """Whether to start our containers on the host network (`setting`: auto, host, bridge)."""
    if setting != "auto":
        return setting == "host"
    global _verdict
    with _lock:
        if _verdict is None:
            _verdict = _engine_shares_loopback(client)
        return _verdict


def _engine_shares_loopback(client: Any) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("DOCKER_HOST", _LOCAL_SOCKETS[0]) not in _LOCAL_SOCKETS:
        return False  # TCP, or a rootless or desktop engine's own socket
    try:
        info = client.info()
    except Exception:
        return False
    security = " ".join(info.get("SecurityOptions") or [])
    return (
        info.get("OSType") == "linux"
        and "Docker Desktop" not in str(info.get("OperatingSystem"))
        and "rootless" not in security
        and info.get("Name") == socket.gethostname()
    )


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 now, not picked before by this process, and below the
    kernel's range for outgoing connections (which could take it before the server
    binds it): picked at random, so that processes starting side by side rarely meet."""
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = _random.randrange(_FIRST_PORT, low) if low - _FIRST_PORT > 1000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            port = int(probe.getsockname()[1])
        with _lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise OSError("no free port on 127.0.0.1")


def port_taken(logs: str) -> bool:
    """Whether a server's last words say another process had taken its port."""
    return "already in use" in logs.lower()


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as fh:
            low, high = (int(part) for part in fh.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def host_network_container(
    image: str, service_port: int, port: int, **kwargs: Any
) -> DockerContainer:
    """A testcontainers object for a container on the host network whose service,
    `service_port` in the image, listens on `port`: `get_exposed_port(service_port)`
    answers `port`, as it would for a published port."""
    # into the constructor: `with_kwargs` would replace the other keywords (the labels)
    container: DockerContainer = _container_class()(image, network_mode="host", **kwargs)
    container.service_ports = {service_port: port}  # type: ignore[attr-defined]
    return container


def adopted_container(image: str, wrapped: Any, service_port: int, port: int) -> DockerContainer:
    """A testcontainers object around a running container (`wrapped`, from the SDK)."""
    from testcontainers.core.container import DockerContainer

    host_mode = (wrapped.attrs.get("HostConfig") or {}).get("NetworkMode") == "host"
    known = {"version": wrapped.client.api.api_version}  # else its client asks the engine
    handle: DockerContainer = (_container_class() if host_mode else DockerContainer)(
        image, docker_client_kw=known
    )
    if host_mode:
        handle.service_ports = {service_port: port}  # type: ignore[attr-defined]
    handle._container = wrapped
    return handle


@functools.cache
def _container_class() -> Any:  # a DockerContainer subclass, made on first use
    from testcontainers.core.container import DockerContainer

    class HostNetworkContainer(DockerContainer):
        """No published ports: the services listen on the host's loopback."""

        service_ports: dict[int, int]

        def get_container_host_ip(self) -> str:
            return LOOPBACK

        def get_exposed_port(self, port: int) -> int:
            return self.service_ports.get(int(port), int(port))

    return HostNetworkContainer
