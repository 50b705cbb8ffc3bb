"""The locally built images behave like the official ones where testcontainers relies on it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from stability.cli import main
from stability.containers.images import POSTGRES_IMAGE, REDIS_IMAGE

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


def test_postgres_image_runs_initdb_scripts_and_trusts_inside(tmp_path: Path) -> None:
    """What suites written for the official image rely on (testcontainers' own tests do)."""
    from testcontainers.community.postgres import PostgresContainer

    (tmp_path / "01-schema.sql").write_text("CREATE TABLE stuff (name text NOT NULL);\n")
    (tmp_path / "02-seed.sh").write_text(  # sourced in the official image: not executable
        'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" '
        "-c \"INSERT INTO stuff VALUES ('from sh')\"\n"
    )
    (tmp_path / "03-more.sql").write_text("INSERT INTO stuff VALUES ('from sql');\n")
    container = PostgresContainer(POSTGRES_IMAGE, password="pw", dbname="app", driver=None)
    container.with_kwargs(labels={"dev.pytest-stability.managed": "true"})
    for script in sorted(tmp_path.iterdir()):
        container.with_volume_mapping(str(script), f"/docker-entrypoint-initdb.d/{script.name}")
    with container:
        with psycopg.connect(container.get_connection_url()) as conn:
            rows = conn.execute("SELECT name FROM stuff ORDER BY name").fetchall()
        assert rows == [("from sh",), ("from sql",)]  # in name order, in POSTGRES_DB
        # psql -h localhost inside the container needs no password, as officially
        code, out = container.exec("psql -h localhost -U test -d app -tAc 'SELECT 6*7'")
        assert isinstance(out, bytes) and (code, out.decode().strip()) == (0, "42")
        # a command replaces the server (the entry point execs it)
        code, out = container.exec(["sh", "-c", "echo hello"])
        assert isinstance(out, bytes) and (code, out.decode()) == (0, "hello\n")


def test_postgres_image_honours_host_auth_method_trust() -> None:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(POSTGRES_IMAGE, password="right", driver=None)
    container.with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
    container.with_kwargs(labels={"dev.pytest-stability.managed": "true"})
    with container, psycopg.connect(container.get_connection_url().replace("right", "x")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_redis_image_takes_a_command_in_place_of_its_own() -> None:
    import redis
    from testcontainers.community.redis import RedisContainer

    # testcontainers sets `redis-server --requirepass ...` as the command for a password
    container = RedisContainer(REDIS_IMAGE, password="s3cret")
    container.with_kwargs(labels={"dev.pytest-stability.managed": "true"})
    with container:
        assert container.get_client().set("k", "v")
        anonymous = redis.Redis(
            host=container.get_container_host_ip(), port=int(container.get_exposed_port(6379))
        )
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("k")
