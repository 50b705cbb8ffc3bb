"""Fast fresh containers (issue 12): the snapshot image, the runner's pool of containers
started ahead, and the hand-over to a repetition, against real containers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main
from stability.containers.cleanup import list_managed
from stability.containers.engine import docker_client
from stability.containers.pg_state import APPLICATION_NAME
from stability.containers.snapshot import REPOSITORY, SOURCE_LABEL

pytestmark = pytest.mark.docker

_CHECK_BACKENDS = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"

# Each test commits a row through its own connection and checks it finds none first:
# a container another repetition touched would show its row.
FRESH = """
import os
import psycopg

def test_fresh_database(postgres_url, redis_client):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM marks").fetchone() == (0,)
        conn.execute("INSERT INTO marks VALUES (%s)", (os.environ.get("STABILITY_REPETITION"),))
    assert redis_client.dbsize() == 0
    redis_client.set("mark", "x")
{extra}
"""


def _project(folder: Path, extra: str = "") -> None:
    (folder / "pyproject.toml").write_text(
        '[tool.stability]\nmigrations = "db"\nseed = "seeds:load"\n'
    )
    (folder / "db").mkdir()
    (folder / "db" / "001_marks.sql").write_text("CREATE TABLE marks (repetition text);")
    (folder / "db" / "002_catalog.sql").write_text("CREATE TABLE catalog (sku text);")
    (folder / "seeds.py").write_text(
        "def load(conn):\n    conn.execute(\"INSERT INTO catalog VALUES ('sku-1')\")\n"
    )
    (folder / "test_fresh.py").write_text(FRESH.format(extra=extra))


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _same_source_tags(tag: str) -> set[str]:
    """The snapshot images of the same project and base image as `tag` (any content)."""
    client = docker_client()
    source = client.images.get(tag).labels[SOURCE_LABEL]
    images = client.images.list(filters={"label": f"{SOURCE_LABEL}={source}"})
    return {t for image in images for t in image.tags}


def test_campaign_hands_every_repetition_containers_no_other_touched(project: Path) -> None:
    _project(project)
    result = invoke("test_fresh.py", "--repeat", "5", "--db", "h.duckdb", "-q", "--json")
    summary = json.loads(result.output)
    assert result.exit_code == 0, result.output
    assert summary["repetitions"] == {"passed": 5}
    starts = _query(
        project / "h.duckdb",
        "SELECT repetition, service, container_id, pooled, wait_s, ready_s, image "
        "FROM container_starts ORDER BY repetition, service",
    )
    assert len(starts) == 10
    ids = [row[2] for row in starts]
    assert len(set(ids)) == 10, "a container was handed to two repetitions"
    pooled = {(rep, service) for rep, service, _, was_pooled, *_ in starts if was_pooled}
    # repetition 1 shows which services the tests use; from then on the pool starts ahead
    assert {(r, s) for r in (3, 4, 5) for s in ("postgres", "redis")} <= pooled
    assert not any(rep == 1 for rep, _ in pooled)
    for _rep, service, _, _, wait_s, ready_s, image in starts:
        assert wait_s is not None and ready_s is not None and ready_s > 0
        if service == "postgres":
            assert image.startswith(REPOSITORY + ":"), "PostgreSQL did not start from a snapshot"
    assert not list_managed(session=summary["session"]), "containers left after the campaign"
    # the report's container section: real start-up times, and the starts made ahead
    out = project / "out"
    done = CliRunner().invoke(
        main, ["report", "--db", "h.duckdb", "--format", "json", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    section = json.loads((out / "report.json").read_text())["suite"]["containers"]
    by_service = {c["service"]: c for c in section}
    for service in ("postgres", "redis"):
        assert by_service[service]["starts"] == 5
        assert by_service[service]["pooled"] == sum(1 for _, s in pooled if s == service)
        assert by_service[service]["p50_s"] > 0 and by_service[service]["wait_p50_s"] is not None


def test_until_fail_removes_the_containers_started_ahead(project: Path) -> None:
    _project(
        project,
        extra=(
            "\ndef test_fails_in_three():\n    assert os.environ['STABILITY_REPETITION'] != '3'\n"
        ),
    )
    result = invoke(
        "test_fresh.py", "--repeat", "8", "--until-fail", "--db", "h.duckdb", "-q", "--json"
    )
    summary = json.loads(result.output)
    assert summary["status"] == "stopped_at_failure"
    assert summary["repetitions_done"] == 3
    assert not list_managed(session=summary["session"]), "pooled containers were left behind"


def test_without_the_pool_every_repetition_starts_its_own(project: Path) -> None:
    _project(project)
    result = invoke("test_fresh.py", "--repeat", "3", "--no-pool", "--db", "h.duckdb")
    assert result.exit_code == 0, result.output
    pooled = _query(project / "h.duckdb", "SELECT count(*) FROM container_starts WHERE pooled")
    assert pooled == [(0,)]


def test_snapshot_is_made_once_and_made_again_when_a_migration_changes(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester.path)
    (pytester.path / "test_seeded.py").write_text(
        "def test_seed_is_there(pg_transaction):\n"
        "    assert pg_transaction.execute('SELECT sku FROM catalog').fetchall() == [('sku-1',)]\n"
        "    # analyzed when the snapshot was made: statistics come with every container\n"
        "    stats = \"SELECT reltuples FROM pg_class WHERE relname = 'catalog'\"\n"
        "    assert pg_transaction.execute(stats).fetchone() == (1.0,)\n"
        "\n"
        "def test_password_is_stored_cheap_and_still_checked(pg_transaction, postgres_url):\n"
        "    import psycopg, pytest\n"
        "    who = 'SELECT rolpassword FROM pg_authid WHERE rolname = current_user'\n"
        "    assert pg_transaction.execute(who).fetchone()[0].startswith('SCRAM-SHA-256$1:')\n"
        "    with pytest.raises(psycopg.OperationalError, match='password authentication'):\n"
        "        psycopg.connect(postgres_url.replace(':test@', ':wrong@')).close()\n"
    )

    # On the bridge: on the host network, initdb's pg_hba trusts 127.0.0.1.
    monkeypatch.setenv("STABILITY_NETWORK", "bridge")

    def images_used(run: str) -> list[str]:
        folder = tmp_path / run
        folder.mkdir()
        monkeypatch.setenv("STABILITY_RESULTS_DIR", str(folder))
        pytester.runpytest_subprocess().assert_outcomes(passed=3)
        from stability.runner.results_file import read_records

        return [
            str(r["image"])
            for r in read_records(folder)
            if r["kind"] == "container_start" and r["service"] == "postgres"
        ]

    first, second = images_used("first"), images_used("second")
    assert first == second and first[0].startswith(REPOSITORY + ":")
    (pytester.path / "db" / "002_catalog.sql").write_text(
        "CREATE TABLE catalog (sku text, price int);"
    )
    third = images_used("third")
    assert third[0] != first[0], "a changed migration did not make a new snapshot"
    assert _same_source_tags(third[0]) == {third[0]}, "the outdated snapshot was kept"


def test_a_handed_over_container_for_other_settings_is_not_used(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stability.containers.handoff import Handoff

    stranger = Handoff(
        service="redis",
        container_id="0" * 64,
        image="some/other-redis",
        host="127.0.0.1",
        port=1,
        ready_s=0.5,
        started_at="2026-01-01T00:00:00+00:00",
        key="made-from-something-else",
        url="redis://127.0.0.1:1/0",
    )
    for name, value in stranger.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STABILITY_RESULTS_DIR", str(tmp_path))
    pytester.makepyfile("def test_redis(redis_client):\n    assert redis_client.ping()\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    from stability.runner.results_file import read_records

    starts = [r for r in read_records(tmp_path) if r["kind"] == "container_start"]
    assert [(r["service"], r["pooled"], r["ok"]) for r in starts] == [("redis", False, True)]
    assert starts[0]["container_id"] != stranger.container_id


def test_containers_started_ahead_carry_their_repetition(project: Path) -> None:
    from stability.containers.config import load_settings
    from stability.runner.pool import ContainerPool

    pool = ContainerPool("pool-labels", load_settings(project), ["redis"], depth=2)
    try:
        pool.reserve([7, 8, 9])  # only two ahead
        seven, eight = pool.take(7), pool.take(8)
        assert pool.take(9) is None
        assert seven is not None and eight is not None
        handed = [json.loads(f.result()["STABILITY_POOLED_REDIS"]) for f in (seven, eight)]
        found = {
            c.repetition: c for c in list_managed(session="pool-labels") if c.service == "redis"
        }
        assert set(found) == {"7", "8"}
        assert {h["container_id"][:12] for h in handed} == {
            found["7"].short_id[:12],
            found["8"].short_id[:12],
        }
    finally:
        pool.close()
        from stability.containers.cleanup import prune_containers

        prune_containers(only_orphans=False, session="pool-labels")


def test_a_postgres_started_ahead_carries_its_snapshots_baseline(project: Path) -> None:
    """The leftover check of the repetition that adopts it takes the image's reading of
    the database instead of reading it again."""
    from stability.containers import pg_baseline
    from stability.containers.cleanup import prune_containers
    from stability.containers.config import load_settings
    from stability.containers.launch import service_spec
    from stability.runner.pool import ContainerPool

    _project(project)
    settings = load_settings(project)
    pool = ContainerPool("pool-counts", settings, ["postgres"], depth=1)
    try:
        pool.reserve([1])
        started = pool.take(1)
        assert started is not None
        handed = json.loads(started.result()["STABILITY_POOLED_POSTGRES"])
        baseline = pg_baseline.decode(handed["baseline"])
        assert baseline is not None
        assert baseline.counts == {"public.catalog": 1, "public.marks": 0}
        # the pool left nothing of the check's behind: no replication slot, no connection
        url = service_spec("postgres", settings).url(handed["host"], handed["port"])
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)
            deadline = time.monotonic() + 10
            while conn.execute(_CHECK_BACKENDS, [APPLICATION_NAME]).fetchone() != (0,):
                assert time.monotonic() < deadline, "the warm-up's connection stayed"
                time.sleep(0.02)
    finally:
        pool.close()
        prune_containers(only_orphans=False, session="pool-counts")
