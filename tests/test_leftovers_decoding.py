"""The PostgreSQL probe by logical decoding against real containers: what each window's
committed transactions changed, and the counting fallback where decoding is off."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stability.containers import pg_baseline, pg_decoding, snapshot
from stability.containers.config import load_settings
from stability.containers.launch import RunningService, postgres_spec, start_service
from stability.containers.pg_decoding import DecodingPostgresProbe
from stability.containers.state_probes import PostgresProbe, open_postgres_probe

pytestmark = pytest.mark.docker

SCHEMA = """
CREATE TABLE items (name text PRIMARY KEY, n int);
CREATE TABLE pairs (a int, b int, note text, PRIMARY KEY (b, a));
CREATE TABLE log (line text);                     -- no primary key
CREATE UNLOGGED TABLE scratchpad (k int PRIMARY KEY);
CREATE TABLE "Odd Name" ("my key" text PRIMARY KEY);
INSERT INTO items SELECT 'seeded-' || g, g FROM generate_series(1, 5) g;
INSERT INTO log VALUES ('one'), ('two');
"""


def _slots_once_settled(conn: psycopg.Connection[Any], gone: str) -> set[str]:
    """The server's slots once `gone` has left them, or after 10 s: a temporary slot goes
    when its backend exits, which happens a moment after the client closed it."""
    deadline = time.monotonic() + 10
    while True:
        slots = {r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")}
        if gone not in slots or time.monotonic() > deadline:
            return slots
        time.sleep(0.02)


def _start(tmp_path: Path, flags: bool) -> RunningService:
    spec = postgres_spec(load_settings(tmp_path))
    if not flags:  # an image or configuration that does not take our server flags
        spec = dataclasses.replace(spec, command=())
    return start_service(spec)


@pytest.fixture(scope="module")
def decoding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    service = _start(tmp_path_factory.mktemp("decoding"), flags=True)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def db(decoding_server: RunningService) -> Iterator[tuple[DecodingPostgresProbe, Any]]:
    """A fresh schema, a probe attached after it, and a writer connection (autocommit)."""
    _fresh_schema(decoding_server.url)
    probe = open_postgres_probe(decoding_server.url)
    assert isinstance(probe, DecodingPostgresProbe), probe.method
    writer = psycopg.connect(decoding_server.url, autocommit=True)
    try:
        yield probe, writer
    finally:
        writer.close()
        probe.close()


def _fresh_schema(url: str, schema: str = SCHEMA) -> None:
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        setup.execute(schema)


SCHEMA_TABLES = [
    'public."Odd Name"',
    "public.items",
    "public.log",
    "public.pairs",
    "public.scratchpad",
]
SCHEMA_COUNTS = dict.fromkeys(SCHEMA_TABLES, 0) | {"public.items": 5, "public.log": 2}


def test_a_baseline_given_stands_for_reading_the_database(
    decoding_server: RunningService,
) -> None:
    """The probe opened with the database's own baseline finds what the probe that reads
    for itself finds; with a made-up one (items held 100 rows, a table `gone` existed,
    the sequence never moved), it counts from that: the reading was taken, not redone."""
    url = decoding_server.url
    _fresh_schema(url, SCHEMA + "CREATE SEQUENCE tickets; SELECT nextval('tickets');")
    with psycopg.connect(url, autocommit=True) as conn:
        _, read = pg_baseline.read(conn)
    assert read.counts == SCHEMA_COUNTS
    assert {"sequence public.tickets", "table public.items"} <= set(read.catalog)
    ((oid, last),) = read.sequence_values
    assert last == 1 and read.sequence_names == [[oid, "public.tickets", 1, 1]]
    made_up = read._replace(
        counts=read.counts | {"public.items": 100},
        catalog=[*read.catalog, "table public.gone"],
        sequence_values=[[oid, None]],
    )
    probes = [
        DecodingPostgresProbe(url),
        DecodingPostgresProbe(url, read),
        DecodingPostgresProbe(url, made_up),
    ]
    try:
        with psycopg.connect(url, autocommit=True) as writer:
            writer.execute("TRUNCATE items")
            writer.execute("SELECT nextval('tickets')")
            writer.execute("CREATE TABLE fresh (k int)")
        itself, given, made = (probe.measure() for probe in probes)
        assert itself == given
        assert itself is not None and _rows(itself) == {"public.items": (0, 0, 5)}
        assert itself["created"] == ["table public.fresh"] and "dropped" not in itself
        assert itself["sequences"] == {"public.tickets": 1}
        assert made is not None and _rows(made) == {"public.items": (0, 0, 100)}
        assert made["dropped"] == ["table public.gone"]
        assert made["sequences"] == {"public.tickets": 2}
    finally:
        for probe in probes:
            probe.close()


def _rows(found: dict[str, Any] | None) -> dict[str, tuple[int, int, int]]:
    rows = (found or {}).get("rows", {})
    return {t: (c["inserted"], c["updated"], c["deleted"]) for t, c in rows.items()}


def test_counts_inserts_updates_and_deletes_without_scanning(db: Any) -> None:
    probe, writer = db
    writer.execute("INSERT INTO items VALUES ('new', 1)")
    writer.execute("UPDATE items SET n = 0 WHERE name IN ('seeded-1', 'seeded-2')")
    writer.execute("DELETE FROM items WHERE name = 'seeded-3'")
    writer.execute("INSERT INTO pairs VALUES (1, 2, 'x'), (3, 4, 'it''s a [test]: yes')")
    assert _rows(probe.measure()) == {"public.items": (1, 2, 1), "public.pairs": (2, 0, 0)}
    assert probe.measure() is None  # the window is consumed


def test_rows_gone_again_and_rows_written_twice_count_once(db: Any) -> None:
    probe, writer = db
    writer.execute("INSERT INTO items VALUES ('temporary', 1)")
    writer.execute("UPDATE items SET n = n + 1 WHERE name = 'seeded-1'")
    writer.execute("UPDATE items SET n = n + 1 WHERE name = 'seeded-1'")
    writer.execute("DELETE FROM items WHERE name = 'temporary'")
    writer.execute("INSERT INTO pairs VALUES (1, 1, 'x')")
    writer.execute("UPDATE pairs SET note = 'y'")
    writer.execute("""INSERT INTO "Odd Name" VALUES ('a b')""")
    writer.execute("""DELETE FROM "Odd Name" """)
    assert _rows(probe.measure()) == {"public.items": (0, 1, 0), "public.pairs": (1, 0, 0)}


def test_a_changed_key_is_one_updated_row(db: Any) -> None:
    probe, writer = db
    writer.execute("UPDATE items SET name = 'renamed' WHERE name = 'seeded-4'")
    assert _rows(probe.measure()) == {"public.items": (0, 1, 0)}


def test_truncate_removes_the_rows_the_table_held(db: Any) -> None:
    probe, writer = db
    writer.execute("TRUNCATE items")
    assert _rows(probe.measure()) == {"public.items": (0, 0, 5)}
    writer.execute("INSERT INTO items VALUES ('a', 1), ('b', 2)")
    writer.execute("TRUNCATE items, log")
    writer.execute("INSERT INTO items VALUES ('c', 3)")
    assert _rows(probe.measure()) == {"public.items": (1, 0, 0), "public.log": (0, 0, 2)}


def test_a_table_without_primary_key_is_counted_when_its_rows_cannot_be_told_apart(
    db: Any,
) -> None:
    probe, writer = db
    writer.execute("INSERT INTO log VALUES ('three')")
    assert _rows(probe.measure()) == {"public.log": (1, 0, 0)}
    writer.execute("INSERT INTO log VALUES ('four')")
    writer.execute("DELETE FROM log WHERE line = 'four'")
    assert probe.measure() is None
    writer.execute("UPDATE log SET line = 'ONE' WHERE line = 'one'")
    writer.execute("DELETE FROM log WHERE line = 'two'")
    assert _rows(probe.measure()) == {"public.log": (0, 1, 1)}


def test_unlogged_tables_are_counted(db: Any) -> None:
    probe, writer = db
    writer.execute("INSERT INTO scratchpad VALUES (1), (2)")
    assert _rows(probe.measure()) == {"public.scratchpad": (2, 0, 0)}


def test_objects_created_and_dropped_and_rows_of_a_table_gone_again(db: Any) -> None:
    probe, writer = db
    writer.execute("CREATE TABLE made (x int)")
    writer.execute("INSERT INTO made VALUES (1)")
    writer.execute("DROP TABLE pairs")
    found = probe.measure()
    assert found == {
        "created": ["table public.made"],
        "dropped": ["index public.pairs_pkey", "table public.pairs"],
        "rows": {"public.made": {"inserted": 1, "updated": 0, "deleted": 0}},
    }
    writer.execute("CREATE TABLE brief (x int)")
    writer.execute("INSERT INTO brief VALUES (1)")
    writer.execute("DROP TABLE brief")
    assert probe.measure() is None


def test_reads_rollbacks_and_sequences(db: Any) -> None:
    probe, writer = db
    writer.execute("SELECT count(*) FROM items")
    with writer.transaction(force_rollback=True):
        writer.execute("INSERT INTO items VALUES ('rolled back', 1)")
    assert probe.measure() is None
    writer.execute("CREATE SEQUENCE tickets")
    probe.measure()
    writer.execute("SELECT nextval('tickets'), nextval('tickets')")
    assert probe.measure() == {"sequences": {"public.tickets": 2}}
    assert probe.measure() is None
    # a changed increment keeps the sequence's oid: steps count by the new one
    writer.execute("ALTER SEQUENCE tickets INCREMENT BY 10")
    probe.measure()
    writer.execute("SELECT nextval('tickets')")
    with writer.transaction(force_rollback=True):  # never rolled back, by PostgreSQL
        writer.execute("SELECT nextval('tickets'), nextval('tickets')")
    assert probe.measure() == {"sequences": {"public.tickets": 3}}
    writer.execute("CREATE SEQUENCE later; SELECT nextval('later')")
    assert probe.measure() == {"created": ["sequence public.later"]}
    writer.execute("SELECT nextval('later')")
    assert probe.measure() == {"sequences": {"public.later": 1}}


@contextlib.contextmanager
def _probe_after(
    server: RunningService, schema: str, counting: bool
) -> Iterator[tuple[PostgresProbe | DecodingPostgresProbe, Any]]:
    """A fresh `schema`, then a probe (counting or decoding) and a writer (autocommit)."""
    _fresh_schema(server.url, schema)
    with psycopg.connect(server.url, autocommit=True) as writer:
        probe = PostgresProbe(server.url) if counting else DecodingPostgresProbe(server.url)
        try:
            yield probe, writer
        finally:
            probe.close()


@pytest.mark.parametrize("counting", [False, True], ids=["decoding", "counting"])
def test_many_sequences_only_the_advanced_one_named(
    decoding_server: RunningService, counting: bool
) -> None:
    tables = "; ".join(f"CREATE TABLE t{i} (id bigserial PRIMARY KEY)" for i in range(30))
    with _probe_after(decoding_server, tables, counting) as (probe, setup):
        with setup.transaction(force_rollback=True):
            setup.execute("INSERT INTO t17 DEFAULT VALUES")
        assert probe.measure() == {"sequences": {"public.t17_id_seq": 1}}
        assert probe.measure() is None


@pytest.mark.parametrize("counting", [False, True], ids=["decoding", "counting"])
def test_a_measure_without_sequences_leaves_their_steps_to_the_next_that_reads_them(
    decoding_server: RunningService, counting: bool
) -> None:
    schema = "CREATE SEQUENCE tickets; CREATE TABLE items (name text)"
    with _probe_after(decoding_server, schema, counting) as (probe, writer):
        writer.execute("SELECT nextval('tickets'), nextval('tickets')")
        skipped = probe.measure(sequences=False) or {}
        writer.execute("SELECT nextval('tickets')")
        read = probe.measure() or {}
        steps = [m.get("sequences", {}).get("public.tickets", 0) for m in (skipped, read)]
        # the counting probe reads everything after a commit (autovacuum's, say)
        assert sum(steps) == 3 and (counting or steps == [0, 3])
        assert probe.measure() is None
        # a commit in a window without sequences: names (increments) are read again
        # (a nextval that logs gets a transaction id; the next 31 do not)
        writer.execute("ALTER SEQUENCE tickets INCREMENT BY 10")
        writer.execute("SELECT nextval('tickets')")
        assert not (probe.measure(sequences=False) or {}).get("rows")
        writer.execute("SELECT nextval('tickets')")
        drawn = 1 if counting else 2  # counting read the first one with the commit
        assert probe.measure() == {"sequences": {"public.tickets": drawn}}


def test_a_transaction_open_at_a_measure_lands_in_the_window_it_commits_in(db: Any) -> None:
    probe, writer = db
    writer.execute("BEGIN")
    writer.execute("INSERT INTO items VALUES ('from a thread', 1)")
    assert probe.measure() is None  # written, not committed: not yet a leftover
    writer.execute("COMMIT")
    assert _rows(probe.measure()) == {"public.items": (1, 0, 0)}
    assert probe.measure() is None


def test_an_asynchronous_commit_is_in_the_window_it_was_acknowledged_in(db: Any) -> None:
    probe, writer = db
    writer.execute("SET synchronous_commit = off")
    writer.execute("INSERT INTO items VALUES ('async', 1)")
    assert _rows(probe.measure()) == {"public.items": (1, 0, 0)}


def test_a_thread_writing_while_windows_close_puts_each_row_in_one_window(
    db: Any, decoding_server: RunningService
) -> None:
    probe, _ = db

    def write() -> None:
        with psycopg.connect(decoding_server.url, autocommit=True) as conn:
            for i in range(200):
                conn.execute("INSERT INTO items VALUES (%s, 1)", [f"thread-{i}"])

    thread = threading.Thread(target=write)
    thread.start()
    inserted = 0
    while thread.is_alive():
        inserted += _rows(probe.measure()).get("public.items", (0, 0, 0))[0]
    thread.join()
    inserted += _rows(probe.measure()).get("public.items", (0, 0, 0))[0]
    assert inserted == 200


def test_without_logical_decoding_the_probe_counts_rows_and_says_why(tmp_path: Path) -> None:
    service = _start(tmp_path, flags=False)
    try:
        with psycopg.connect(service.url, autocommit=True) as writer:
            writer.execute(SCHEMA)
            probe = open_postgres_probe(service.url)
            try:
                assert isinstance(probe, PostgresProbe)
                assert probe.method == (
                    "row counts: the server's wal_level is replica, not logical"
                )
                writer.execute("UPDATE items SET n = 0 WHERE name = 'seeded-1'")
                writer.execute("DELETE FROM log WHERE line = 'one'")
                assert _rows(probe.measure()) == {
                    "public.items": (0, 1, 0),
                    "public.log": (0, 0, 1),
                }
            finally:
                probe.close()
    finally:
        service.stop()


def test_a_slot_holding_much_log_is_replaced_without_losing_a_commit(
    db: Any, decoding_server: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, writer = db
    monkeypatch.setattr(pg_decoding, "RETAINED_BYTES", 1)  # move at every measure
    probe = open_postgres_probe(decoding_server.url)
    assert isinstance(probe, DecodingPostgresProbe)
    try:
        first = probe.slot
        writer.execute("INSERT INTO items VALUES ('kept', 1)")
        assert _rows(probe.measure()) == {"public.items": (1, 0, 0)}
        assert probe.slot != first
        moved = probe.slot
        writer.execute("BEGIN")  # a transaction running keeps a new slot from starting
        writer.execute("INSERT INTO items VALUES ('later', 1)")
        assert probe.measure() is None
        assert probe.slot == moved
        writer.execute("COMMIT")
        assert _rows(probe.measure()) == {"public.items": (1, 0, 0)}
        assert probe.slot != moved
        slots = writer.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE active_pid = %s",
            [probe.decoder.info.backend_pid],
        ).fetchall()
        assert slots == [(probe.slot,)]  # the old ones are gone
    finally:
        probe.close()


def test_decoding_on_a_snapshot_container(tmp_path: Path) -> None:
    """The server runs on the snapshot image's data directory (overlayfs): slots are
    created, moved and dropped there as anywhere."""
    from stability.containers.services import fresh_spec

    (tmp_path / "pyproject.toml").write_text('[tool.stability]\nmigrations = "db"\n')
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001.sql").write_text(f"-- {tmp_path}\n{SCHEMA}")  # a snapshot of its own
    settings = load_settings(tmp_path)
    service = start_service(fresh_spec(postgres_spec(settings), settings))
    writer = psycopg.connect(service.url, autocommit=True)
    try:
        # the image holds what a probe reads as it opens, for containers nobody touched yet
        label = snapshot.baseline_label(service.spec.image)
        assert pg_baseline.decode(label) == pg_baseline.read(writer)[1]
        writer.execute("INSERT INTO items VALUES ('before attach', 0)")
        probe = DecodingPostgresProbe(service.url)
        assert probe.measure() is None  # before attach: not a test's
        writer.execute("INSERT INTO items VALUES ('after attach', 1)")
        assert _rows(probe.measure()) == {"public.items": (1, 0, 0)}
        first_slot, probe._move_at = probe.slot, 0  # the next window moves to a new slot
        writer.execute("DELETE FROM items WHERE name = 'after attach'")
        assert _rows(probe.measure()) == {"public.items": (0, 0, 1)}
        slots = _slots_once_settled(writer, gone=first_slot)
        assert probe.slot in slots and first_slot not in slots
        writer.execute("INSERT INTO items VALUES ('later', 2)")
        assert _rows(probe.measure()) == {"public.items": (1, 0, 0)}
        probe.close()
    finally:
        writer.close()
        service.stop()
