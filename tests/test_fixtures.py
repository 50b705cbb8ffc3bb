"""The container fixtures, exercised in real pytest subprocesses against real containers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker


def _records(folder: Path, kind: str) -> list[dict[str, object]]:
    from stability.runner.results_file import read_records

    return [r for r in read_records(folder) if r["kind"] == kind]


def test_smoke_postgres_and_redis(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import psycopg, redis

        def test_postgres(postgres_url):
            with psycopg.connect(postgres_url) as conn:
                assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)

        def test_redis(redis_url):
            client = redis.Redis.from_url(redis_url)
            assert client.ping()
        """
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["stability: postgres=pytest-stability/postgres*redis=*"])


def test_rolled_back_transaction_isolates_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import psycopg, pytest

        @pytest.fixture(scope="session", autouse=True)
        def table(postgres_url):
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS items (name text)")

        def count(conn):
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]

        def test_1_writes_and_passes(pg_transaction):
            pg_transaction.execute("INSERT INTO items VALUES ('a')")
            assert count(pg_transaction) == 1

        def test_2_sees_nothing_then_writes_and_fails(pg_transaction):
            assert count(pg_transaction) == 0
            pg_transaction.execute("INSERT INTO items VALUES ('b')")
            assert False, "fails on purpose after writing"

        def test_3_breaks_the_transaction(pg_transaction):
            assert count(pg_transaction) == 0
            pg_transaction.execute("INSERT INTO items VALUES ('c')")
            pg_transaction.execute("SELECT * FROM no_such_table")

        def test_4_still_sees_nothing(pg_transaction, postgres_url):
            assert count(pg_transaction) == 0
            with psycopg.connect(postgres_url) as other:
                assert count(other) == 0

        def test_5_commit_is_refused(pg_transaction):
            with pytest.raises(psycopg.ProgrammingError):
                pg_transaction.commit()
        """
    )
    result = pytester.runpytest_subprocess("-ra")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(["FAILED *::test_2_sees_nothing_then_writes_and_fails*"])
    result.stdout.fnmatch_lines(["FAILED *::test_3_breaks_the_transaction*"])
    result.stdout.fnmatch_lines(["E * fails on purpose after writing"])
    result.stdout.fnmatch_lines(['E *UndefinedTable: relation "no_such_table" does not exist'])


def test_redis_client_starts_each_test_on_an_empty_database(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_1_writes(redis_client):
            redis_client.set("key", "value")
            assert redis_client.dbsize() == 1

        def test_2_sees_nothing(redis_client):
            assert redis_client.dbsize() == 0
            assert redis_client.get("key") is None
            # no CLIENT SETINFO handshake (two round trips a test): Redis 7.0, ours,
            # refuses the command, so an error reply would show it was sent
            assert redis_client.info("errorstats") == {}
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=2)


def test_migrations_and_seed_are_applied_once(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.stability]
        migrations = "db"
        seed = "seeds:load"
        """
    )
    db = pytester.mkdir("db")
    (db / "002_add_price.sql").write_text("ALTER TABLE products ADD COLUMN price_cents int;")
    (db / "001_products.sql").write_text(
        "CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL);\n"
        "CREATE INDEX products_name ON products (name);"
    )
    (db / "README.txt").write_text("not a migration")
    pytester.makepyfile(
        seeds="""
        def load(conn):
            conn.execute("INSERT INTO products VALUES ('sku-1', 'Kettle', 2599)")
        """,
        test_catalog="""
        def test_seed_row_is_there(pg_transaction):
            rows = pg_transaction.execute("SELECT sku, name, price_cents FROM products").fetchall()
            assert rows == [("sku-1", "Kettle", 2599)]

        def test_seed_survives_a_rolled_back_delete(pg_transaction):
            pg_transaction.execute("DELETE FROM products")

        def test_seed_still_there(pg_transaction):
            assert pg_transaction.execute("SELECT count(*) FROM products").fetchone() == (1,)
        """,
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=3)


def test_failing_migration_stops_the_session_naming_file_and_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml('[tool.stability]\nmigrations = "db"\n')
    db = pytester.mkdir("db")
    (db / "001_ok.sql").write_text("CREATE TABLE a (id int);")
    (db / "002_broken.sql").write_text("CREATE TABLE b (id int REFERENCES missing(id));")
    pytester.makepyfile(
        """
        def test_one(pg_transaction):
            pass

        def test_two(pg_transaction):
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ['*stability: migration 002_broken.sql failed: relation "missing" does not exist*']
    )
    assert "Traceback" not in result.stdout.str()


def test_services_start_in_parallel_and_are_measured(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STABILITY_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("STABILITY_SESSION_ID", "parallel-check")
    monkeypatch.setenv("STABILITY_REPETITION", "7")
    pytester.makepyfile(
        """
        from stability.containers import labels

        def test_only_redis_first(redis_url):
            pass  # the session needs both, so asking for one starts both

        def test_both(postgres_container, redis_container):
            for container in (postgres_container, redis_container):
                found = container.get_wrapped_container().labels
                assert found[labels.SESSION] == "parallel-check"
                assert found[labels.REPETITION] == "7"
                assert found[labels.MANAGED] == "true"
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
    starts = _records(tmp_path, "container_start")
    assert sorted(str(r["service"]) for r in starts) == ["postgres", "redis"]
    assert all(r["ok"] for r in starts)
    from datetime import datetime

    begins = [datetime.fromisoformat(str(r["started_at"])).timestamp() for r in starts]
    ends = [b + float(str(r["setup_s"])) for b, r in zip(begins, starts, strict=True)]
    assert max(begins) < min(ends), f"starts did not overlap: {json.dumps(starts)}"
    for record in starts:
        ready = float(str(record["ready_s"]))
        assert 0 < ready <= float(str(record["setup_s"]))
        assert ready != round(ready), "readiness rounded to whole seconds"


def test_a_service_nobody_asks_for_is_not_started(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STABILITY_RESULTS_DIR", str(tmp_path))
    pytester.makepyfile("def test_redis(redis_client):\n    assert redis_client.ping()\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert [r["service"] for r in _records(tmp_path, "container_start")] == ["redis"]


def test_plugin_import_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, stability.plugin;"
        "heavy = {'testcontainers', 'duckdb', 'plotly', 'pandas', 'psycopg', 'redis', 'docker'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_our_modules_are_not_assertion_rewritten_in_a_pytest_process(
    pytester: pytest.Pytester,
) -> None:
    """pytest would rewrite every module of the plugin's package in every process; the
    plugin opts its own package out (the tests' modules are still rewritten)."""
    pytester.makepyfile(
        """
        import importlib
        from _pytest.assertion.rewrite import AssertionRewritingHook

        def test_loaders():
            ours = importlib.import_module("stability.records")
            assert not isinstance(ours.__loader__, AssertionRewritingHook)
            assert isinstance(__loader__, AssertionRewritingHook)
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
