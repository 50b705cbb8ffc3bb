"""Containers on a Docker engine reached over TCP (`DOCKER_HOST=tcp://...`).

No second engine can be installed here, so the test exposes the local engine's socket on
a loopback TCP port through a small proxy of its own (what `socat TCP-LISTEN:2375,fork
UNIX-CONNECT:/var/run/docker.sock` does) and counts the connections it carries: every
Docker call of the run goes over TCP, as it would to a remote engine.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from click.testing import CliRunner

from stability.cli import main

DOCKER_SOCKET = Path("/var/run/docker.sock")


class TcpToUnixProxy:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            self.connections += 1
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(str(self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.server.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def tcp_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[TcpToUnixProxy]:
    if not DOCKER_SOCKET.exists():
        pytest.skip("needs the local Docker engine's socket to expose over TCP")
    proxy = TcpToUnixProxy(DOCKER_SOCKET)
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("TESTCONTAINERS_CONNECTION_MODE", raising=False)
    yield proxy
    proxy.close()


@pytest.mark.docker
def test_fixtures_work_on_an_engine_reached_over_tcp(
    pytester: pytest.Pytester, tcp_engine: TcpToUnixProxy
) -> None:
    pytester.makepyfile(
        """
        def test_postgres(pg_transaction, postgres_container):
            assert pg_transaction.execute("SELECT 1").fetchone() == (1,)
            with open("ids.txt", "a") as fh:
                print(postgres_container.get_wrapped_container().id, file=fh)

        def test_redis(redis_client, redis_container):
            assert redis_client.ping()
            with open("ids.txt", "a") as fh:
                print(redis_container.get_wrapped_container().id, file=fh)
        """
    )
    # what is tested is the route over TCP, not start-up speed: a shared, loaded machine
    # may need more than the default 30 s to start PostgreSQL
    pytester.makepyprojecttoml("[tool.stability]\npostgres_timeout = 120\nredis_timeout = 60\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert tcp_engine.connections > 0  # the Docker calls went over TCP
    ids = (pytester.path / "ids.txt").read_text().split()
    assert len(ids) == 2
    # removed at the end of the session, over TCP too: the engine no longer knows them
    listed = CliRunner().invoke(main, ["containers", "list", "--json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert isinstance(json.loads(listed.stdout), list)
    client = docker.DockerClient(base_url=f"unix://{DOCKER_SOCKET}")
    for container_id in ids:
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(container_id)
    client.close()


def test_an_unreachable_tcp_engine_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    result = CliRunner().invoke(main, ["containers", "list"], catch_exceptions=False)
    assert result.exit_code == 3
    [line] = result.stderr.splitlines()
    assert f"no Docker engine answers at tcp://127.0.0.1:{port}" in line
