"""The locally built images behave like the official ones where testcontainers relies on it."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner

from stability.cli import main
from stability.images import POSTGRES_IMAGE, REDIS_IMAGE

pytestmark = pytest.mark.docker


def test_build_is_idempotent_and_says_so() -> None:
    # The first call builds what is missing (nothing, where bootstrap built them) ...
    first = CliRunner().invoke(main, ["images", "build", "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    # ... and a second one finds everything present and rebuilds nothing.
    result = CliRunner().invoke(main, ["images", "build", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    actions = {item["tag"]: item["action"] for item in json.loads(result.output)}
    assert actions[POSTGRES_IMAGE] == actions[REDIS_IMAGE] == "present"


def test_postgres_image_honours_the_official_environment_and_testcontainers_readiness() -> None:
    from testcontainers.community.postgres import PostgresContainer

    # testcontainers' own wait strategy runs `sh -c "... psql ..."` inside the container.
    container = PostgresContainer(
        POSTGRES_IMAGE, username="alice", password="it's-s3cret", dbname="shop_db", driver=None
    )
    container.with_kwargs(labels={"dev.pytest-stability.managed": "true"})
    with container:
        url = container.get_connection_url()
        with psycopg.connect(url) as conn:
            user, db, encoding = (
                conn.execute(
                    "SELECT current_user, current_database(), pg_encoding_to_char(encoding) "
                    "FROM pg_database WHERE datname = current_database()"
                ).fetchone()
                or ()
            )
            assert (user, db, encoding) == ("alice", "shop_db", "UTF8")
            assert conn.execute("SELECT 'ünïcödé ✓'").fetchone() == ("ünïcödé ✓",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(url.replace("s3cret", "wrong"))


def test_redis_image_answers_without_protected_mode() -> None:
    import redis
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(REDIS_IMAGE, labels={"dev.pytest-stability.managed": "true"})
    container.with_exposed_ports(6379)
    with container:
        port = int(container.get_exposed_port(6379))
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=5)
        for _ in range(100):
            try:
                assert client.ping()
                break
            except redis.ConnectionError:
                __import__("time").sleep(0.05)
        assert client.info("server")["redis_version"].startswith("7.")
