"""Cheap, exact fingerprints of what tests can change in PostgreSQL and Redis.

Each probe holds one connection of its own for the whole pytest session and answers
`measure()`: what changed since its previous measure (a window), as the `postgres` or
`redis` part of a leftovers record (`stability.containers.leftovers`), or None.

PostgreSQL: `open_postgres_probe` gives the probe by logical decoding (`pg_decoding`)
where the server allows it, else `PostgresProbe` here, which counts. Per window:
- committed write transactions: the transaction ids that committed between the previous
  snapshot (`pg_current_snapshot()`) and this one, by `pg_xact_status`. Reads never get
  an id, a rolled-back transaction (`pg_transaction`) is `aborted`: neither counts.
- objects created or dropped: the catalog (relations, schemas, functions, extensions),
  read only after a commit (DDL is transactional: no commit, no change);
- sequences: `last_value` of each, since `nextval` is never rolled back.
Only when a write transaction committed does it count rows: per table, `count(*)` and
the rows whose `xmin` is one of those transactions, against the counts it holds from
before. Everything is read in one snapshot.

Redis: `redis_probe`.

Each probe's `end_window()` ends a window without waiting; its `measure()` reads it (and
ends one first if none is ended): the leftover check ends a test's window when the test
ends and reads it when the next starts.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from stability.containers.leftovers import row_changes
from stability.containers.pg_state import (
    APPLICATION_NAME,
    CATALOG,
    TABLES,
    WINDOW,
    WINDOW_WITHOUT_SEQUENCES,
    Sequences,
    analyze_never_analyzed,
    catalog_changes,
    count_rows,
    sequence_steps,
    window_params,
)
from stability.containers.pg_window import bigint_pairs, bigints, window_queries

if TYPE_CHECKING:
    from stability.containers.pg_baseline import Baseline
    from stability.containers.pg_decoding import DecodingPostgresProbe

_PARAMS = ("low", "prev_xmax", "prev_xip", "own")


class _PgState:  # not a dataclass: 1.3 ms less to import, in every repetition
    def __init__(
        self,
        snapshot: str,  # xmin:xmax:xip,...
        catalog: set[str],
        sequences: dict[str, list[int | None]],
        counts: dict[str, int],
    ) -> None:
        self.snapshot, self.catalog = snapshot, catalog
        self.sequences, self.counts = sequences, counts


def open_postgres_probe(
    url: str, baseline: Baseline | None = None
) -> PostgresProbe | DecodingPostgresProbe:
    """The probe by logical decoding where the server allows it, else by row counts
    (its `method` says which, and why). `baseline`: the database's state now, if known
    (a snapshot image's, in a container nobody has touched yet)."""
    from stability.containers.pg_decoding import DecodingPostgresProbe, DecodingUnavailable

    try:
        return DecodingPostgresProbe(url, baseline)
    except DecodingUnavailable as exc:
        probe = PostgresProbe(url)
        probe.method = f"row counts: {exc}"
        return probe


def warm_postgres(url: str) -> None:
    """Read once, on one connection, what a probe reads as it opens (the sequences, the
    catalog, the tables). A fresh server's first reading of them costs it about twice
    the CPU of every later one; done ahead (the runner's pool), the repetition's probe
    then opens in a third of the time. Measured on the 50-table schema: 47 ms of CPU,
    against 72 ms for opening and closing a whole probe, for the same effect."""
    import psycopg

    with psycopg.connect(
        url, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=10
    ) as conn:
        Sequences().now(conn)
        conn.execute(CATALOG).fetchall()
        conn.execute(TABLES, {"unlogged": False}).fetchall()


class PostgresProbe:
    """The fallback: a window with a committed write transaction recounts every table."""

    method = "row counts"
    _sequences: Sequences

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(
            url, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=10
        )
        # Fresh statistics now, so that autovacuum does not analyze the freshly seeded
        # tables during the first tests: each ANALYZE commits, and a commit means a recount.
        with contextlib.suppress(psycopg.Error):
            analyze_never_analyzed(self.conn)
        self.state = self._full_state(committed=[], counts=None)
        self._windows = window_queries(
            self.conn, {True: WINDOW, False: WINDOW_WITHOUT_SEQUENCES}, _PARAMS
        )
        self._ended: tuple[bool, dict[str, Any]] | None = None  # sequences?, its parameters

    def close(self) -> None:
        self.conn.close()

    def end_window(self, sequences: bool = True) -> None:
        """End the window now; `measure()` reads what it holds (`pg_window`)."""
        params = window_params(self.state.snapshot)
        self._windows[sequences].send(params)
        self._ended = (sequences, params)

    def measure(self, sequences: bool = True) -> dict[str, Any] | None:
        """What changed in the window `end_window` ended (else: ending now) since the
        previous one (None: nothing); without `sequences`, no sequence steps, and the next
        measure that reads them counts from the last that did."""
        if self._ended is None:
            self.end_window(sequences)
        assert self._ended is not None
        (sequences, params), self._ended = self._ended, None
        snapshot, committed_text, values_text = self._windows[sequences].receive()
        assert snapshot is not None
        committed = bigints(committed_text)
        values = (bigint_pairs(values_text) or []) if sequences else None
        if committed:  # DDL is transactional too: no commit, no catalog change
            before = self.state
            with self.conn.transaction():  # one snapshot for the whole picture
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                after = self._full_state(committed=None, counts=before.counts, params=params)
            return _postgres_changes(before, after, self._new_versions)
        if not sequences:
            self.state.snapshot = snapshot
            return None
        sequences_now = self._sequences.now(self.conn, values, committed=False)
        before_sequences = self.state.sequences
        self.state.snapshot, self.state.sequences = snapshot, sequences_now
        advanced = sequence_steps(before_sequences, sequences_now)
        return {"sequences": advanced} if advanced else None

    # -- the full picture, taken at the start and after a window with writes ------------

    _new_versions: dict[str, int]

    def _full_state(
        self,
        *,
        committed: list[int] | None,
        counts: dict[str, int] | None,
        params: dict[str, Any] | None = None,
    ) -> _PgState:
        conn = self.conn
        if committed is None:  # the window's transactions, as of this snapshot
            assert params is not None
            snapshot, committed, values = conn.execute(WINDOW, params).fetchone()  # type: ignore[misc]
            sequences = self._sequences.now(conn, values)
        else:
            snapshot = conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]  # type: ignore[index]
            self._sequences = Sequences()
            sequences = self._sequences.now(conn)
        catalog = {row[0] for row in conn.execute(CATALOG)}
        tables = [row[0] for row in conn.execute(TABLES, {"unlogged": False})]
        self._new_versions = {}
        if counts is None or committed:
            new_counts, self._new_versions = count_rows(conn, tables, committed)
        else:
            new_counts = dict(counts)
        state = _PgState(snapshot, catalog, sequences, new_counts)
        self.state = state
        return state


def _postgres_changes(
    before: _PgState, after: _PgState, new_versions: dict[str, int]
) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    rows: dict[str, dict[str, int]] = {}
    for table, count in after.counts.items():
        change = row_changes(before.counts.get(table, 0), count, new_versions.get(table, 0))
        if any(change.values()):
            rows[table] = change
    if rows:
        out["rows"] = rows
    out.update(catalog_changes(before.catalog, after.catalog))
    sequences = sequence_steps(before.sequences, after.sequences)
    if sequences:
        out["sequences"] = sequences
    return out or None
