"""Our containers on the host network: loopback only, our labels, a free port each.

Real containers on the real engine; the choice of network (`host_network`) also with a
stand-in engine, since it only reads `info()`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from stability.containers import host_network, labels, launch
from stability.containers.config import load_settings
from stability.containers.launch import RunningService, service_spec, start_service
from stability.exceptions import ConfigError


class _Engine:
    def __init__(self, **info: Any) -> None:
        self._info = {"OSType": "linux", "OperatingSystem": "Debian GNU/Linux 12"}
        self._info.update(info)

    def info(self) -> dict[str, Any]:
        return self._info


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"Name": socket.gethostname()}, True),
        ({"Name": "another-machine"}, False),  # Docker outside of Docker: its loopback
        ({"Name": socket.gethostname(), "SecurityOptions": ["name=rootless"]}, False),
        ({"Name": socket.gethostname(), "OperatingSystem": "Docker Desktop"}, False),
    ],
)
def test_auto_uses_the_host_network_only_where_the_engine_shares_our_loopback(
    info: dict[str, Any], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert host_network._engine_shares_loopback(_Engine(**info)) is expected


def test_a_remote_engine_or_a_setting_decides_without_asking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _Engine(Name=socket.gethostname())
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2375")
    assert host_network._engine_shares_loopback(engine) is False
    assert host_network.use_host_network("bridge", engine) is False
    assert host_network.use_host_network("host", None) is True


def test_network_setting_is_checked(tmp_path: Path) -> None:
    assert load_settings(tmp_path, {"STABILITY_NETWORK": "bridge"}).network == "bridge"
    with pytest.raises(ConfigError, match="network in the environment must be one of auto"):
        load_settings(tmp_path, {"STABILITY_NETWORK": "overlay"})


def _start(name: str, network: str) -> RunningService:
    env = {**os.environ, "STABILITY_NETWORK": network, "STABILITY_SNAPSHOT": "0"}
    settings = load_settings(Path.cwd(), env)
    return start_service(service_spec(name, settings))


def _attrs(service: RunningService) -> dict[str, Any]:
    wrapped = service.container.get_wrapped_container()
    wrapped.reload()
    return dict(wrapped.attrs)


@pytest.mark.docker
def test_host_network_postgres_listens_on_loopback_at_its_own_port() -> None:
    first, second = _start("postgres", "host"), _start("postgres", "host")
    try:
        for service in (first, second):
            attrs = _attrs(service)
            assert attrs["HostConfig"]["NetworkMode"] == "host"
            assert not attrs["NetworkSettings"]["Ports"]  # nothing published
            own = attrs["Config"]["Labels"]
            assert own[labels.MANAGED] == "true" and own[labels.SERVICE] == "postgres"
            assert service.host == "127.0.0.1"
            assert service.container.get_exposed_port(5432) == service.port
            assert service.container.get_container_host_ip() == "127.0.0.1"
            with psycopg.connect(service.url) as conn:
                row = conn.execute("SHOW listen_addresses").fetchone()
                assert row == ("127.0.0.1",)
            # psql inside the container finds the server on its port (PGPORT)
            code, out = service.container.exec(["psql", "-U", "test", "-tAc", "SELECT 42"])
            assert code == 0 and isinstance(out, bytes) and out.strip() == b"42"
        assert first.port != second.port
    finally:
        first.container.stop()
        second.container.stop()


@pytest.mark.docker
def test_host_network_redis_and_the_bridge_setting() -> None:
    on_host, bridged = _start("redis", "host"), _start("redis", "bridge")
    try:
        assert _attrs(on_host)["HostConfig"]["NetworkMode"] == "host"
        assert _attrs(on_host)["Config"]["Labels"][labels.SERVICE] == "redis"
        client = redis.Redis.from_url(on_host.url)
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        assert client.config_get("save") == {"save": ""}  # the image's own flags kept
        client.close()
        attrs = _attrs(bridged)
        assert attrs["HostConfig"]["NetworkMode"] != "host"
        [published] = attrs["NetworkSettings"]["Ports"]["6379/tcp"]
        assert published["HostIp"] == "127.0.0.1" and int(published["HostPort"]) == bridged.port
        assert redis.Redis.from_url(bridged.url).ping()
    finally:
        on_host.container.stop()
        bridged.container.stop()


def test_ports_are_picked_below_the_range_of_outgoing_connections() -> None:
    low, _ = host_network._ephemeral_range()
    picked = [host_network.free_loopback_port() for _ in range(50)]
    assert len(set(picked)) == 50
    if low > 21000:
        assert all(20000 <= port < low for port in picked)


@pytest.mark.docker
@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_a_port_taken_before_the_server_binds_it_is_picked_again(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = socket.create_server(("127.0.0.1", 0))  # another process's, in the meantime
    taken_port = taken.getsockname()[1]
    picks = iter([taken_port, host_network.free_loopback_port()])
    monkeypatch.setattr(launch, "free_loopback_port", lambda: next(picks))
    try:
        service = _start(name, "host")
    finally:
        taken.close()
    try:
        assert service.port != taken_port
        assert service.container.get_exposed_port(service.spec.port) == service.port
        assert next(picks, None) is None  # both picks used: the first start failed
    finally:
        service.container.stop()
