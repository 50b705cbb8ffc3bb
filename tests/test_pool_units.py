"""Pure logic of fast fresh containers (issue 12): no Docker."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from stability.containers import handoff
from stability.containers.config import Settings
from stability.containers.snapshot import content_key
from stability.runner.pending import PendingNumbers
from stability.runner.pool import SET_MEMORY_BYTES, pool_depth


def test_upcoming_numbers_are_peeked_not_taken() -> None:
    pending = PendingNumbers(10, done={3, 4})
    assert pending.upcoming(3) == [1, 2, 5]
    assert pending.popleft() == 1
    assert pending.upcoming(2) == [2, 5]
    shard = PendingNumbers(10, start=2, step=3)  # 2, 5, 8
    assert shard.upcoming(5) == [2, 5, 8]
    pending.clear()
    assert pending.upcoming(4) == []


def test_pool_depth_follows_jobs_within_memory() -> None:
    plenty = 64 * SET_MEMORY_BYTES
    assert pool_depth(1, plenty) == 2
    assert pool_depth(4, plenty) == 5
    assert pool_depth(4, 8 * SET_MEMORY_BYTES) == 2  # a quarter of it: two sets
    assert pool_depth(4, SET_MEMORY_BYTES) == 1  # never less than one


def test_handoffs_are_claimed_once_and_a_garbled_one_is_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = handoff.Handoff("redis", "c" * 64, "img", "127.0.0.1", 5, 0.3, "t", "k", "redis://x")
    for name, value in made.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(handoff.ENV_PREFIX + "POSTGRES", "{not json")
    assert handoff.claim_all() == {"redis": made}
    assert handoff.claim_all() == {}, "a pytest started by a test would take them again"
    assert json.loads(made.env()["STABILITY_POOLED_REDIS"])["port"] == 5


def test_snapshot_key_follows_what_the_database_is_made_from(tmp_path: Path) -> None:
    migrations = tmp_path / "db"
    migrations.mkdir()
    (migrations / "001.sql").write_text("CREATE TABLE a (id int);")
    (tmp_path / "seeds.py").write_text("def load(conn):\n    pass\n")
    base = Settings(migrations=migrations, seed="seeds:load", project_root=tmp_path)
    key = content_key(base)
    assert content_key(base) == key
    assert content_key(replace(base, postgres_password="other")) != key
    (migrations / "001.sql").write_text("CREATE TABLE a (id bigint);")
    changed = content_key(base)
    assert changed != key
    (tmp_path / "seeds.py").write_text("def load(conn):\n    conn.execute('SELECT 1')\n")
    seeded = content_key(base)
    assert seeded != changed
    (migrations / "notes.txt").write_text("not a migration")
    assert content_key(base) == seeded, "only .sql files are migrations"
    assert handoff.service_key("postgres", replace(base, snapshot=False)) == "no-snapshot"
