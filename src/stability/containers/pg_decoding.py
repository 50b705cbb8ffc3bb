"""The PostgreSQL probe of the leftover check by logical decoding: what each committed
transaction wrote, read from the write-ahead log, without scanning tables.

At attach (after migrations and seed) the probe creates a temporary logical replication
slot (`test_decoding`, gone with its connection), then reads the catalog and the
sequences and counts every table's rows once (a container nobody has touched yet,
started from a snapshot image, holds what the image's reading says: `pg_baseline`). A
clean window (reads, rolled-back writes) costs one query: the committed transactions
between two snapshots, as the counting probe reads them. A window with a commit is
decoded:

1. the probe commits a marker, `pg_logical_emit_message`, with `synchronous_commit` on
   for its own connection: that flushes the log up to it, so every commit acknowledged
   before (even with the server's `synchronous_commit = off`) can be decoded. Its
   position bounds the window: a transaction committed before it is in this window, one
   after it in the next, however the threads that wrote them interleave;
2. reads the slot's changes up to the marker (`pg_logical_slot_get_changes`), counted
   per table (`decoded_rows.read_window`): inserts, updates, deletes after the table's
   last TRUNCATE. Rolled-back transactions and reads never appear. The cost follows what
   the tests wrote, not the size of the tables;
3. reads the catalog (created and dropped objects: DDL is not decoded), and for a table
   whose rows were both written and deleted, or updated, tells rows apart by their
   primary key (or replica identity) in the decoded lines.

Decoding reads the log again from the slot's restart point, which PostgreSQL 15 moves on
only every 15 s or so: once the slot holds more than 256 kB of log (tests wrote, even
rolled back), the probe moves to a new slot, when no commit would be lost.

Row counts are carried from the attach-time count by the decoded inserts and deletes, so
a TRUNCATE says how many rows it removed. Scans remain for what the log cannot say:
unlogged tables (counted after a window with commits, as the counting probe does), and a
table without primary key or replica identity whose rows were updated, or inserted and
deleted (its rows written by the window's transactions, by `xmin`). Sequences are read
at every measure (`nextval` is never rolled back, and PostgreSQL 15 does not decode it).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from stability.containers import pg_baseline
from stability.containers.leftovers import row_changes
from stability.containers.pg_state import (
    APPLICATION_NAME,
    CATALOG,
    USER_SCHEMAS,
    WINDOW,
    WINDOW_WITHOUT_SEQUENCES,
    Sequences,
    analyze_never_analyzed,
    catalog_changes,
    count_rows,
    sequence_steps,
    window_params,
)
from stability.containers.pg_window import (
    bigint_pairs,
    bigints,
    prepare_window_queries,
    window_queries,
)

if TYPE_CHECKING:
    from stability.containers.decoded_rows import TableWrites
    from stability.containers.pg_baseline import Baseline

MARKER_PREFIX = "pytest-stability leftovers"
SLOT_TIMEOUT = "10s"  # creating a slot waits for the transactions running at that moment
# Only what the window needs: BEGIN lines (committed transactions), our markers, rows.
_DECODE = """
    SELECT xid::text, data FROM pg_logical_slot_get_changes(%(slot)s, %(upto)s::pg_lsn, NULL)
    WHERE data LIKE 'table %%' OR data LIKE 'BEGIN%%' OR data LIKE 'message: %%'
"""
_MARK = (
    "SELECT pg_current_xact_id()::text::bigint, "
    f"pg_logical_emit_message(true, '{MARKER_PREFIX}', '')"
)
# The window, and where the log is now. The slot's restart point is read only when the
# log has grown past it by more than the probe allows (`_move_at`): reading the slot at
# every window cost the server as much again as the window itself.
_AND_LSN = ", pg_current_wal_insert_lsn()::text FROM now"
_WINDOW_AND_LSN = {  # by whether it reads the sequences
    True: WINDOW.replace("FROM now", _AND_LSN),
    False: WINDOW_WITHOUT_SEQUENCES.replace("FROM now", _AND_LSN),
}
_WINDOW_PARAMS = ("low", "prev_xmax", "prev_xip", "own")
_RESTART = "SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = %s"
# Decoding starts again from the slot's restart point, which moves on only at a record of
# the transactions running (every 15 s, or at a checkpoint). Once a slot holds this much
# log (tests wrote, even rolled back), the probe moves to a new slot (about as costly as
# decoding this much again).
RETAINED_BYTES = 256 << 10
_DECODER_SETTINGS = "SET synchronous_commit = local"
_CREATE_SLOT = "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'test_decoding', true)"
# The unlogged tables (never in the log), and the row identity of the tables named: their
# replica identity index (by default the primary key), every column ('f'), or none.
_RELATIONS = f"""
    SELECT t.name, c.relpersistence = 'u', c.relreplident,
        ARRAY(SELECT quote_ident(a.attname) FROM pg_index i
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
              WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary)
                                            OR (c.relreplident = 'i' AND i.indisreplident)))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
         LATERAL (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name) t
    WHERE {USER_SCHEMAS} AND c.relkind = 'r'
      AND (c.relpersistence = 'u' OR t.name = ANY(%(tables)s::text[]))
"""


class DecodingUnavailable(Exception):
    """The server cannot decode for us (wal_level, slots, rights): count rows instead."""


class DecodingPostgresProbe:
    method = "logical decoding"

    def __init__(self, url: str, baseline: Baseline | None = None) -> None:
        import psycopg

        def connect() -> Any:
            return psycopg.connect(
                url, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=10
            )

        # Two connections: decoding resets its session's catalog caches, which would make
        # every other query of the measure plan and look up afresh.
        self._connect = connect
        self.conn = connect()
        try:
            self.decoder = connect()
        except BaseException:
            self.conn.close()
            raise
        try:
            self._start(psycopg, baseline)
        except BaseException:
            self.close()
            raise

    def _start(self, psycopg: Any, baseline: Baseline | None) -> None:
        """The slot, then the baseline in one snapshot after it (or only the snapshot,
        with `baseline` given): one round trip each (pipelines). On a busy machine every
        round trip of the opening waits for the scheduler, so the fewer the better."""
        conn, decoder = self.conn, self.decoder
        if baseline is None:  # a snapshot image's tables were analyzed when it was made
            with contextlib.suppress(psycopg.Error):
                analyze_never_analyzed(conn)  # no autovacuum analyze during the tests
        self.slot, self._own, self._move_at = _slot_name(), [], RETAINED_BYTES
        try:
            with decoder.pipeline():
                # Our marker's commit flushes the log up to it; `local`: no standby to wait for.
                decoder.execute(_DECODER_SETTINGS)
                decoder.execute(f"SET statement_timeout = '{SLOT_TIMEOUT}'")
                created = decoder.execute(_CREATE_SLOT, [self.slot])
                decoder.execute("RESET statement_timeout")
                mark = decoder.execute(_MARK, prepare=True)
            xid, _ = mark.fetchone()
            self._own.append(int(xid))  # the marker, decoded with the first window's
            # The slot's consistent point; its restart point is there or a little before,
            # read for real once the bound passes (`measure`): reading it now, the first
            # query on pg_replication_slots in a session, cost the server 7 ms.
            self._restart = _lsn(created.fetchone()[0])
        except psycopg.Error as exc:
            wal_level = conn.execute("SHOW wal_level").fetchone()[0]
            if wal_level != "logical":
                raise DecodingUnavailable(
                    f"the server's wal_level is {wal_level}, not logical"
                ) from None
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DecodingUnavailable(f"no logical replication slot: {reason}") from None
        prepare = prepare_window_queries(_WINDOW_AND_LSN, _WINDOW_PARAMS)
        if baseline is None:
            self.snapshot, baseline = pg_baseline.read(conn, also=prepare)
        else:
            with conn.pipeline():
                snapshot = conn.execute("SELECT pg_current_snapshot()::text")
                for statement in prepare:
                    conn.execute(statement)
            self.snapshot = snapshot.fetchone()[0]
        self._sequences = Sequences()
        self.sequences = self._sequences.start(baseline.sequence_values, baseline.sequence_names)
        self.catalog, self.counts = set(baseline.catalog), dict(baseline.counts)
        self._windows = window_queries(conn, _WINDOW_AND_LSN, _WINDOW_PARAMS, prepared=True)
        self._ended: bool | None = None  # a window ended, its answer not read: with sequences?

    def close(self) -> None:
        self.conn.close()
        self.decoder.close()  # the slot is temporary: it goes with its connection

    def end_window(self, sequences: bool = True) -> None:
        """End the window now; `measure()` reads what it holds (`pg_window`)."""
        self._windows[sequences].send(window_params(self.snapshot, self._own))
        self._ended = sequences

    def measure(self, sequences: bool = True) -> dict[str, Any] | None:
        """What changed in the window `end_window` ended (else: ending now) since the
        previous one (None: nothing); without `sequences`, no sequence steps, and the next
        measure that reads them counts from the last that did."""
        if self._ended is None:
            self.end_window(sequences)
        sequences, self._ended = bool(self._ended), None
        snapshot, committed_text, values, lsn = self._windows[sequences].receive()
        assert snapshot is not None and lsn is not None
        self.snapshot, committed = snapshot, bigints(committed_text)
        self._own = []
        out: dict[str, Any] = {}
        seen: set[str] = set()
        if committed:  # else: nothing to decode (rollbacks, reads)
            seen, found = self._decode(committed)
            out.update(found)
        log_at = _lsn(lsn)
        if log_at - self._restart > self._move_at:  # at most this much log retained
            self._restart = self._restart_lsn(unknown=log_at)  # it may have moved on since
            if log_at - self._restart > self._move_at:
                self._move_slot(seen)
        if not sequences:
            if committed:  # an ALTER SEQUENCE keeps the oid: names are read again
                self._sequences.forget_names()
            return out or None
        pairs = bigint_pairs(values) or []  # NULL: there are no sequences
        now = self._sequences.now(self.conn, pairs, committed=bool(committed))
        advanced = sequence_steps(self.sequences, now)
        self.sequences = now
        if advanced:
            out["sequences"] = advanced
        return out or None

    def _move_slot(self, decoded: set[str]) -> None:
        """Go on with a new slot, which starts where the log is now, if no transaction
        committed since the last decoding (`decoded`: the transactions it saw) that the
        new slot would miss. Creating a slot waits for the transactions running: a test's
        open transaction makes it give up at once and try again after more log."""
        import psycopg

        new, conn = _slot_name(), None
        try:  # on a connection of its own: an error drops every temporary slot of a session
            conn = self._connect()
            conn.execute(_DECODER_SETTINGS)
            conn.execute("SET lock_timeout = '50ms'")
            conn.execute(_CREATE_SLOT, [new])
            conn.execute("RESET lock_timeout")
        except psycopg.Error:
            if conn is not None:
                conn.close()
            self._move_at *= 2
            return
        params = window_params(self.snapshot, self._own)
        snapshot, committed, _, _ = self.conn.execute(
            _WINDOW_AND_LSN[False], params, prepare=True
        ).fetchone()
        if {str(x % 2**32) for x in committed} - decoded:  # only the old slot has it
            conn.close()
            self._move_at *= 2
            return
        old, self.decoder = self.decoder, conn
        old.close()  # and its slot with it
        self.slot, self.snapshot, self._own = new, snapshot, []
        self._move_at = RETAINED_BYTES
        self._restart = self._restart_lsn()

    def _restart_lsn(self, unknown: int = 0) -> int:
        """Where the slot's decoding starts again (`unknown` if the server does not say)."""
        row = self.conn.execute(_RESTART, [self.slot], prepare=True).fetchone()
        return _lsn(row[0]) if row and row[0] else unknown

    def _mark(self) -> str:
        """Commit a marker, flushing the log up to it; its position."""
        xid, lsn = self.decoder.execute(_MARK, prepare=True).fetchone()
        self._own.append(int(xid))
        return str(lsn)

    def _decode(self, window: list[int]) -> tuple[set[str], dict[str, Any]]:
        """The rows, tables and objects that transactions committed before a new marker
        changed since the previous one (`window`: those the snapshots saw commit, among
        them any that wrote nothing the log decodes, such as unlogged tables' rows)."""
        # Imported at the first window with a commit: its patterns and classes cost the
        # opening 3 ms, which a suite whose tests never commit does not need.
        from stability.containers import decoded_rows

        upto = self._mark()
        params = {"slot": self.slot, "upto": upto}
        decoded = decoded_rows.read_window(
            self.decoder.execute(_DECODE, params, prepare=True), MARKER_PREFIX
        )
        others = decoded.xids - decoded.marked
        committed = sorted({str(x % 2**32) for x in window} | others, key=int)
        if not committed:  # DDL is transactional and not decoded: no commit, no change
            return decoded.xids, {}
        return decoded.xids, self._after_commits(committed, decoded.writes)

    def _after_commits(self, xids: list[str], writes: list[TableWrites]) -> dict[str, Any]:
        from stability.containers import decoded_rows

        conn = self.conn
        mixed = [w.table for w in writes if w.mixed]
        with conn.pipeline():  # one round trip, one snapshot
            objects = conn.execute(CATALOG, prepare=True)
            relations = conn.execute(_RELATIONS, {"tables": mixed}, prepare=True)
        catalog = {row[0] for row in objects}
        identities: dict[str, tuple[str, ...]] = {}
        unlogged: list[str] = []
        for table, is_unlogged, kind, columns in relations:
            identities[table] = decoded_rows.FULL if kind == "f" else tuple(columns or ())
            if is_unlogged:
                unlogged.append(table)
        out: dict[str, Any] = catalog_changes(self.catalog, catalog)
        self.catalog = catalog
        for name in out.get("dropped", ()):
            if name.startswith("table "):
                self.counts.pop(name[len("table ") :], None)
        rows: dict[str, dict[str, int]] = {}
        scan: list[TableWrites] = []
        for w in writes:
            if f"table {w.table}" not in catalog:  # dropped since: reported as dropped
                continue
            before = self.counts.get(w.table, 0)
            self.counts[w.table] = (0 if w.truncated else before) + w.inserted - w.deleted
            if w.truncated:  # every row it held is gone; the rest were inserted since
                change = {"inserted": w.inserted - w.deleted, "updated": 0, "deleted": before}
            elif w.mixed:
                found = decoded_rows.row_changes(w.lines, identities.get(w.table, ()))
                if found is None:
                    scan.append(w)
                    continue
                change = found
            else:
                change = {"inserted": w.inserted, "updated": 0, "deleted": w.deleted}
            if any(change.values()):
                rows[w.table] = change
        if scan:  # rows without identity: those the window's transactions wrote, by xmin
            _, written = count_rows(conn, [w.table for w in scan], xids)
            for w in scan:
                after = self.counts[w.table]
                change = row_changes(after - w.inserted + w.deleted, after, written[w.table])
                if any(change.values()):
                    rows[w.table] = change
        if unlogged:  # never in the log: counted, as the counting probe does
            counts, written = count_rows(conn, unlogged, xids)
            for table, count in counts.items():
                change = row_changes(self.counts.get(table, 0), count, written[table])
                self.counts[table] = count
                if any(change.values()):
                    rows[table] = change
        if rows:
            out["rows"] = rows
        return out


def _lsn(text: str) -> int:
    """A log position (`16/B374D848`) as a number of bytes."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _slot_name() -> str:
    # os.urandom, not `secrets` (0.9 ms to import, in every repetition)
    return f"stability_leftovers_{os.getpid()}_{os.urandom(4).hex()}"
