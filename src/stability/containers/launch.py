"""Starting PostgreSQL and Redis with testcontainers (imported here and in `host_network`).

Readiness is our own fine-grained poll (every 50 ms, from the host, through the mapped
port) rather than testcontainers' one-second wait loops, so a measured start-up time is
not rounded up to whole seconds.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stability.containers.config import Settings
from stability.containers.engine import docker_client
from stability.containers.host_network import (
    LOOPBACK,
    adopted_container,
    free_loopback_port,
    host_network_container,
    port_taken,
    use_host_network,
)
from stability.containers.labels import container_labels
from stability.containers.reaper import ensure_reaper
from stability.exceptions import ImageUnavailable, ServiceStartError, StartupTimeout
from stability.records import ContainerState
from stability.text import first_line

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
# A local engine (a unix socket, or TCP on loopback) publishes ports on loopback. A
# remote engine (DOCKER_HOST=tcp://host:2375) publishes them on its host, which
# testcontainers already connects to.
_LOCAL_ENGINES = ("unix://", "tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:")

POLL_INTERVAL_S = 0.05
# Server flags of the PostgreSQL containers we start (the image's CMD gets them, as with
# the official images): logical decoding lets the leftover check see what each committed
# transaction wrote without scanning tables (`stability.containers.pg_decoding`).
POSTGRES_SERVER_FLAGS = ("-c", "wal_level=logical")
_LOG_TAIL_LINES = 8
_PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    port: int
    timeout: float
    env: dict[str, str]
    probe: Callable[[str, int], None]  # raises until the service answers
    url: Callable[[str, int], str]
    prepared: bool = False  # migrations and seed are already in the image (a snapshot)
    command: tuple[str, ...] = ()  # arguments to the image's entrypoint; () keeps its CMD
    # the server's arguments to listen on 127.0.0.1 at a port (on the host network)
    loopback_args: Callable[[int], tuple[str, ...]] = lambda port: ()
    network: str = "auto"  # Settings.network: auto, host or bridge


@dataclass
class RunningService:
    spec: ServiceSpec
    # the testcontainers object; a handed-over one (`adopt_service`) is made on first use,
    # so a test that only needs the URL never waits for Docker clients and inspections
    _container: DockerContainer | Callable[[], DockerContainer]
    host: str
    port: int
    ready_s: float
    known_id: str | None = None
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.spec.url(self.host, self.port)

    @property
    def container(self) -> DockerContainer:
        if callable(self._container):
            self._container = self._container()
        return self._container

    @property
    def container_id(self) -> str | None:
        if self.known_id is not None:
            return self.known_id
        wrapped = getattr(self.container, "_container", None)
        return str(wrapped.id) if wrapped is not None else None

    def logs(self, limit: int = 200_000) -> str:
        """The container's output so far (the last `limit` characters)."""
        try:
            raw = self.container.get_wrapped_container().logs()
        except Exception as exc:  # the engine or container went away
            return f"<logs unavailable: {exc}>"
        return str(raw.decode("utf-8", "replace")[-limit:])

    def state(self) -> ContainerState:
        """Its state now (running, exited with a code, OOM-killed, gone, ...)."""
        from stability.containers.health import inspect_container

        return inspect_container(self.spec.name, self.container.get_wrapped_container())

    def stop(self) -> None:
        # Already removed (pruned, or the engine went away) is fine.
        with contextlib.suppress(Exception):
            self.container.stop()


def postgres_spec(settings: Settings) -> ServiceSpec:
    user, password, db = settings.postgres_user, settings.postgres_password, settings.postgres_db

    def url(host: str, port: int) -> str:
        user_q, password_q, db_q = (quote(part, safe="") for part in (user, password, db))
        return f"postgresql://{user_q}:{password_q}@{host}:{port}/{db_q}"

    def probe(host: str, port: int) -> None:
        import psycopg

        with psycopg.connect(url(host, port), connect_timeout=2) as conn:
            conn.execute("SELECT 1")

    return ServiceSpec(
        name="postgres",
        image=settings.postgres_image,
        port=5432,
        timeout=settings.postgres_timeout,
        env={"POSTGRES_USER": user, "POSTGRES_PASSWORD": password, "POSTGRES_DB": db},
        probe=probe,
        url=url,
        command=POSTGRES_SERVER_FLAGS,
        loopback_args=lambda p: ("-c", f"port={p}", "-c", f"listen_addresses={LOOPBACK}"),
        network=settings.network,
    )


def redis_spec(settings: Settings) -> ServiceSpec:
    def probe(host: str, port: int) -> None:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from stability.containers import redis_clients

        # one try a probe: the readiness loop is the retry (and checks the container)
        client = redis_clients.client(
            host=host,
            port=port,
            socket_connect_timeout=1,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            client.ping()
        finally:
            client.close()

    return ServiceSpec(
        name="redis",
        image=settings.redis_image,
        port=6379,
        timeout=settings.redis_timeout,
        env={},
        probe=probe,
        url=lambda host, port: f"redis://{host}:{port}/0",
        loopback_args=lambda p: ("--port", str(p), "--bind", LOOPBACK),
        network=settings.network,
    )


def service_spec(name: str, settings: Settings) -> ServiceSpec:
    """What starting our service `name` (postgres or redis) asks of Docker."""
    return (postgres_spec if name == "postgres" else redis_spec)(settings)


def start_service(spec: ServiceSpec, labels: Mapping[str, str] | None = None) -> RunningService:
    """Start one container and wait until it answers; the clock runs from asking to ready.

    `labels`: the container's labels (default: this process's, `container_labels`).
    """
    started = time.perf_counter()
    client = docker_client()
    image = ensure_image(client, spec)
    ensure_reaper()  # owned from creation: removed when this process dies, however it dies
    on_host = use_host_network(spec.network, client)
    for attempt in range(_PORT_ATTEMPTS):
        try:
            container = _container(spec, image, labels, on_host, client.api.api_version)
            return _start_once(spec, container, started)
        except ServiceStartError as exc:
            # on the host network another process may take the port we picked first
            if not (on_host and port_taken(str(exc)) and attempt + 1 < _PORT_ATTEMPTS):
                raise
    raise AssertionError("unreachable")


def _start_once(spec: ServiceSpec, container: DockerContainer, started: float) -> RunningService:
    try:
        with _OUR_SETTINGS:
            container.start()
            # on the host network the container object answers our loopback port
            host = container.get_container_host_ip()
            port = int(container.get_exposed_port(spec.port))
        host = "127.0.0.1" if host == "localhost" else host
    except Exception as exc:
        logs = _log_tail(container)
        container.stop()
        raise ServiceStartError(
            f"{spec.name} container ({spec.image}) failed to start: {_describe(exc)}{logs}"
        ) from None
    try:
        _wait_ready(spec, container, host, port, started)
    except BaseException:
        container.stop()
        raise
    return RunningService(spec, container, host, port, time.perf_counter() - started)


def _container(
    spec: ServiceSpec,
    image: Any,
    labels: Mapping[str, str] | None,
    on_host: bool,
    api_version: str,
) -> DockerContainer:
    """The testcontainers object to start: on the host network listening on a free
    loopback port, or on the bridge with the service's port published."""
    from testcontainers.core.container import DockerContainer

    kwargs: dict[str, Any] = {
        "env": dict(spec.env),
        "labels": dict(labels) if labels is not None else container_labels(spec.name),
        # the engine's API version, known already: else its client asks the engine again
        "docker_client_kw": {"version": api_version},
    }
    command = list(spec.command)
    if on_host:
        port = free_loopback_port()
        if not command:  # the image's own command, then ours
            command = list((image.attrs.get("Config") or {}).get("Cmd") or [])
        command += spec.loopback_args(port)
        # PGPORT: a `psql` run inside the container finds the server on its port
        kwargs["env"]["PGPORT"] = str(port)
        container = host_network_container(spec.image, spec.port, port, **kwargs)
    else:
        container = DockerContainer(spec.image, **kwargs)
        if _local_engine():  # published on loopback only: a test database is nobody else's
            container.ports[str(spec.port)] = ("127.0.0.1", None)  # type: ignore[assignment]
        else:
            container.with_exposed_ports(spec.port)
    if command:
        container.with_command(command)
    return container


def adopt_service(
    spec: ServiceSpec, container_id: str, host: str, port: int, ready_s: float
) -> RunningService:
    """A service another process started and handed over (the runner's pool), as if
    started here: the same `RunningService`, its `container` a testcontainers object."""

    def container() -> DockerContainer:
        try:
            wrapped = docker_client().containers.get(container_id)
        except Exception as exc:
            raise ServiceStartError(
                f"{spec.name} container {container_id[:12]} from the runner's pool is gone: "
                f"{_describe(exc)}"
            ) from None
        return adopted_container(spec.image, wrapped, spec.port, port)

    return RunningService(spec, container, host, port, ready_s, known_id=container_id)


class _TestcontainersSettings:
    """testcontainers' settings while we start our own containers, and only then.

    Ryuk needs a pulled image, so it is off: our containers carry labels and we reap
    them ourselves. testcontainers guesses a gateway address when /.dockerenv exists;
    with a local engine the published ports are on loopback (DooD set-ups say so with
    TC_HOST or TESTCONTAINERS_CONNECTION_MODE, which win). The settings go on
    testcontainers' configuration object, not into os.environ, and the previous values
    come back when the last of our concurrent starts is done, so containers a test
    starts itself are left to the user's own settings.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: tuple[bool, Any] = (False, None)

    def __enter__(self) -> None:
        from testcontainers.core.config import ConnectionMode
        from testcontainers.core.config import testcontainers_config as tc

        with self._lock:
            if self._users == 0:
                self._saved = (tc.ryuk_disabled, tc.connection_mode_override)
                tc.ryuk_disabled = True
                if (
                    _local_engine()
                    and not tc.tc_host_override
                    and tc.connection_mode_override is None
                ):
                    tc.connection_mode_override = ConnectionMode.docker_host
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        from testcontainers.core.config import testcontainers_config as tc

        with self._lock:
            self._users -= 1
            if self._users == 0:
                tc.ryuk_disabled, tc.connection_mode_override = self._saved


_OUR_SETTINGS = _TestcontainersSettings()


def _local_engine() -> bool:
    return os.environ.get("DOCKER_HOST", "unix://").startswith(_LOCAL_ENGINES)


def ensure_image(client: Any, spec: ServiceSpec) -> Any:
    """The image `spec` starts from (the SDK's object), pulled when missing."""
    import docker.errors

    try:
        return client.images.get(spec.image)
    except docker.errors.ImageNotFound:
        pass
    try:
        return client.images.pull(spec.image)
    except Exception as exc:
        env = f"STABILITY_{spec.name.upper()}_IMAGE"
        reason = str(getattr(exc, "explanation", None) or _describe(exc))[:160]
        raise ImageUnavailable(
            f"{spec.name} image {spec.image!r} is not present and cannot be pulled "
            f"({reason}); build local images with `stability images build` "
            f"and set {env} (or [tool.stability] {spec.name}_image) to the built tag"
        ) from None


def _wait_ready(spec: ServiceSpec, container: Any, host: str, port: int, started: float) -> None:
    deadline = started + spec.timeout
    next_status_check = 0.0
    while True:
        try:
            spec.probe(host, port)
            return
        except Exception:
            pass
        now = time.perf_counter()
        if now >= next_status_check or now >= deadline:  # a crashed one never answers
            wrapped = container.get_wrapped_container()
            try:
                wrapped.reload()
            except Exception:
                if now < deadline:
                    raise
            if wrapped.status in {"exited", "dead"}:
                raise ServiceStartError(
                    f"{spec.name} container ({spec.image}) exited while starting"
                    f"{_log_tail(container)}"
                )
            next_status_check = now + 0.5
        if now >= deadline:
            raise StartupTimeout(
                f"{spec.name} ({spec.image}) was not ready after {now - started:.1f} s "
                f"(timeout {spec.timeout:g} s){_log_tail(container)}"
            )
        time.sleep(POLL_INTERVAL_S)


def _log_tail(container: Any) -> str:
    try:
        raw = container.get_wrapped_container().logs(tail=_LOG_TAIL_LINES)
    except Exception:
        return ""
    lines = [ln.strip() for ln in raw.decode("utf-8", "replace").splitlines() if ln.strip()]
    return "; last log lines: " + " | ".join(lines) if lines else "; the container logged nothing"


def _describe(exc: BaseException) -> str:
    return first_line(str(exc), 300, empty=type(exc).__name__)
