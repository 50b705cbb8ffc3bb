"""The Redis probe against a real container: keys added, changed and removed in any
database, told apart by whether they exist when the window ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from stability.containers.config import load_settings
from stability.containers.launch import RunningService, redis_spec, start_service
from stability.containers.state_probes import RedisProbe

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    service = start_service(redis_spec(load_settings(tmp_path_factory.mktemp("redis"))))
    try:
        yield service
    finally:
        service.stop()


def _db(service: RunningService, db: int) -> redis.Redis:
    return redis.Redis(host=service.host, port=service.port, db=db)


def test_keys_in_two_databases_each_by_what_is_left(redis_server: RunningService) -> None:
    zero, three = _db(redis_server, 0), _db(redis_server, 3)
    zero.flushall()
    zero.set("kept-before", "1")
    three.set("gone-later", "1")
    probe = RedisProbe(redis_server.url)
    try:
        zero.set("added", "1")
        zero.set("added-and-gone", "1")
        zero.delete("added-and-gone")
        zero.set("kept-before", "2")
        three.set("also-added", "1")
        three.delete("gone-later")
        assert probe.measure() == {
            "added": {"count": 2, "examples": ["db0:added", "db3:also-added"]},
            "changed": {"count": 1, "examples": ["db0:kept-before"]},
            "removed": {"count": 1, "examples": ["db3:gone-later"]},
        }
        zero.get("added")  # a read is nothing
        assert probe.measure() is None
    finally:
        probe.close()
        zero.flushall()
