"""The leftover check's probes timed directly, one measure at a time, on running
containers (part of `bench_leftovers.py`): after a clean test (a rolled-back write, a
Redis write emptied by redis_client) and after a test that committed (the slow path,
which decodes the log).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _timed(before: Callable[[], Any], measure: Callable[[], Any], rounds: int) -> float:
    """Median milliseconds of `measure`, each time after `before` (not timed)."""
    times = []
    for _ in range(rounds):
        before()
        started = time.perf_counter()
        measure()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bench_probes(project: Path, table: str, rounds: int) -> dict[str, float]:
    import psycopg
    import redis

    from stability.containers import state_probes
    from stability.containers.config import load_settings
    from stability.containers.redis_probe import RedisProbe
    from stability.containers.services import ServiceManager
    from stability.plugin import _flush_telling_the_check

    # main before issue 14's cost work had only the counting probe
    open_probe = getattr(state_probes, "open_postgres_probe", None) or state_probes.PostgresProbe

    manager = ServiceManager(load_settings(project), needed=["postgres", "redis"])
    try:
        pg_url, redis_url = manager.get("postgres").url, manager.get("redis").url
        started = time.perf_counter()
        pg = open_probe(pg_url)
        print(f"  postgres probe: {getattr(pg, 'method', 'row counts')}")
        attach_ms = (time.perf_counter() - started) * 1000
        rd = RedisProbe(redis_url)
        writer = psycopg.connect(pg_url)
        client = redis.Redis.from_url(redis_url)

        def read_only() -> None:
            writer.execute(f"SELECT count(*) FROM {table}")
            writer.rollback()

        def rolled_back_write() -> None:  # what a pg_transaction test does
            with writer.transaction(force_rollback=True):
                writer.execute(f"UPDATE {table} SET {_row(table)}")

        def committed_write() -> None:  # a write transaction that commits
            writer.execute("SELECT txid_current()")
            writer.commit()

        def committed_row() -> None:  # a test that leaves one row behind
            writer.execute(f"UPDATE {table} SET {_row(table)}")
            writer.commit()

        def redis_written_and_emptied() -> None:  # what a redis_client test does
            client.set("k", "v")
            _flush_telling_the_check(client)

        few = max(rounds // 4, 5)
        result = {
            "postgres, SELECT 1 round trip (reference)": _timed(
                lambda: None, lambda: pg.conn.execute("SELECT 1").fetchone(), rounds
            ),
            "attach (baseline counts), once": attach_ms,
            "postgres, after reads only": _timed(read_only, pg.measure, rounds),
            "postgres, after a rolled-back write": _timed(rolled_back_write, pg.measure, few),
            "postgres, after an empty commit": _timed(committed_write, pg.measure, few),
            "postgres, after a committed row": _timed(committed_row, pg.measure, few),
            "redis, after a write emptied again": _timed(
                redis_written_and_emptied, rd.measure, rounds
            ),
            "redis, nothing written": _timed(lambda: None, rd.measure, rounds),
        }
        writer.close()
        client.close()
        pg.close()
        rd.close()
        return result
    finally:
        manager.close()


def _row(table: str) -> str:
    """One row's update, as a test would write (in a transaction that rolls back)."""
    return (
        "stock = stock + 1 WHERE sku = 'kettle-1'" if table == "products" else "n = 0 WHERE id = 1"
    )
