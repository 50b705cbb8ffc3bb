"""The Redis probe against a real container: keys added, changed and removed in any
database, told apart by whether they exist when the window ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from stability.containers.config import load_settings
from stability.containers.launch import RunningService, redis_spec, start_service
from stability.containers.redis_probe import FLUSHED_CHANNEL, RedisProbe
from stability.containers.resp import RespError

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


def test_keys_emptied_by_redis_client_are_gone_without_asking(
    redis_server: RunningService,
) -> None:
    from stability.plugin import _flush_telling_the_check

    zero, three = _db(redis_server, 0), _db(redis_server, 3)
    zero.flushall()
    probe = RedisProbe(redis_server.url)
    try:
        zero.set("written-then-emptied", "1")
        three.set("other-database", "1")
        _flush_telling_the_check(zero)  # what redis_client does at teardown
        zero.set("written-after-the-emptying", "1")
        assert probe.measure() == {
            "added": {
                "count": 2,
                "examples": ["db0:written-after-the-emptying", "db3:other-database"],
            },
        }
        # The announcement is taken at its word: a key announced as emptied, but kept,
        # is not looked up (only redis_client announces, just before its FLUSHDB).
        zero.set("announced-but-kept", "1")
        zero.publish(FLUSHED_CHANNEL, 0)
        assert probe.measure() is None
        zero.set("announced-for-another-database", "1")
        zero.publish(FLUSHED_CHANNEL, 3)
        assert probe.measure() == {
            "added": {"count": 1, "examples": ["db0:announced-for-another-database"]},
        }
    finally:
        probe.close()
        zero.flushall()


def test_a_password_protected_redis(redis_server: RunningService) -> None:
    admin = _db(redis_server, 0)
    admin.config_set("requirepass", "s3cret/pw")
    try:
        with pytest.raises(RespError, match="NOAUTH"):
            RedisProbe(redis_server.url)
        host = f"{redis_server.host}:{redis_server.port}"
        probe = RedisProbe(f"redis://:s3cret%2Fpw@{host}/0")
        try:
            writer = redis.Redis(
                host=redis_server.host, port=redis_server.port, password="s3cret/pw"
            )
            writer.set("behind-a-password", "1")
            assert probe.measure() == {
                "added": {"count": 1, "examples": ["db0:behind-a-password"]},
            }
        finally:
            probe.close()
    finally:
        redis.Redis(
            host=redis_server.host, port=redis_server.port, password="s3cret/pw"
        ).config_set("requirepass", "")
        admin.flushall()


def test_a_key_that_is_not_utf8_is_reported_escaped(redis_server: RunningService) -> None:
    zero = _db(redis_server, 0)
    zero.flushall()
    probe = RedisProbe(redis_server.url)
    try:
        zero.set(b"cart:\xff\xfe", "1")
        assert probe.measure() == {"added": {"count": 1, "examples": ["db0:cart:\\xff\\xfe"]}}
    finally:
        probe.close()
        zero.flushall()
