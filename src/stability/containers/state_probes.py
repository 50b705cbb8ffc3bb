"""Cheap, exact fingerprints of what tests can change in PostgreSQL and Redis.

Each probe holds one connection of its own for the whole pytest session and answers
`measure()`: what changed since its previous measure (a window), as the `postgres` or
`redis` part of a leftovers record (`stability.containers.leftovers`), or None.

PostgreSQL, per window:
- committed write transactions: the transaction ids that committed between the previous
  snapshot (`pg_current_snapshot()`) and this one, by `pg_xact_status`. Reads never get
  an id, a rolled-back transaction (`pg_transaction`) is `aborted`: neither counts.
- objects created or dropped: the catalog (relations, schemas, functions, extensions),
  read only after a commit (DDL is transactional: no commit, no change);
- sequences: `last_value` of each, since `nextval` is never rolled back.
Only when a write transaction committed (rare in a well-isolated suite) does it count
rows: per table, `count(*)` and the rows whose `xmin` is one of those transactions,
against the counts it holds from before. Everything is read in one snapshot.

Redis: keyspace notifications (`notify-keyspace-events`, set on our own container) to a
subscriber of ours; a marker published at measure time bounds the window exactly, since
Redis delivers in command order. Then `EXISTS` on the keys touched.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from stability.containers.leftovers import redis_changes, row_changes

_MARKER_TIMEOUT_S = 5.0
APPLICATION_NAME = "pytest-stability leftovers"
_USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
)
_KINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "f": "foreign table",
    "i": "index",
    "I": "index",
    "c": "type",
}
# Every user object by a readable name (toast tables follow their table).
_CATALOG = f"""
    SELECT (CASE c.relkind {" ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _KINDS.items())}
            ELSE 'relation' END) || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_USER_SCHEMAS} AND c.relkind <> 't'
    UNION ALL SELECT 'schema ' || quote_ident(n.nspname) FROM pg_namespace n
    WHERE {_USER_SCHEMAS} AND n.nspname <> 'public'
    UNION ALL SELECT 'function ' || p.oid::regprocedure::text
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER_SCHEMAS}
    UNION ALL SELECT 'extension ' || quote_ident(extname) FROM pg_extension
    WHERE extname <> 'plpgsql'
"""
_SEQUENCES = """
    SELECT coalesce(json_object_agg(quote_ident(schemaname) || '.' || quote_ident(sequencename),
                                    json_build_array(last_value, start_value, increment_by)), '{}')
    FROM pg_sequences WHERE schemaname !~ '^pg_temp_'
"""
# The window's committed transactions: in progress at the previous snapshot or started
# after it, and finished by this one.
_WINDOW = f"""
    WITH now AS (SELECT pg_current_snapshot() AS snap)
    SELECT snap::text,
        ARRAY(SELECT x FROM generate_series(%(low)s::bigint,
                                            pg_snapshot_xmax(snap)::text::bigint - 1) AS x
              WHERE (x >= %(prev_xmax)s OR x = ANY(%(prev_xip)s::bigint[]))
                AND pg_xact_status(x::text::xid8) = 'committed'),
        ({_SEQUENCES})
    FROM now
"""
_TABLES = f"""
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_USER_SCHEMAS} AND c.relkind = 'r' ORDER BY 1
"""


@dataclass
class _PgState:
    snapshot: str  # xmin:xmax:xip,...
    catalog: set[str]
    sequences: dict[str, list[int | None]]
    counts: dict[str, int] = field(default_factory=dict)


def _snapshot_bounds(snapshot: str) -> tuple[int, int, list[int]]:
    xmin, xmax, xip = snapshot.split(":")
    return int(xmin), int(xmax), [int(x) for x in xip.split(",") if x]


class PostgresProbe:
    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(
            url, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=10
        )
        # Fresh statistics now, so that autovacuum does not analyze the freshly seeded
        # tables during the first tests: each ANALYZE commits, and a commit means a recount.
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("ANALYZE")
        self.state = self._full_state(committed=[], counts=None)

    def close(self) -> None:
        self.conn.close()

    def measure(self) -> dict[str, Any] | None:
        """What changed since the previous measure (None: nothing)."""
        _, prev_xmax, prev_xip = _snapshot_bounds(self.state.snapshot)
        params = {"low": min([prev_xmax, *prev_xip]), "prev_xmax": prev_xmax, "prev_xip": prev_xip}
        snapshot, committed, sequences = self.conn.execute(_WINDOW, params, prepare=True).fetchone()  # type: ignore[misc]
        if committed:  # DDL is transactional too: no commit, no catalog change
            before = self.state
            with self.conn.transaction():  # one snapshot for the whole picture
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                after = self._full_state(committed=None, counts=before.counts, params=params)
            return _postgres_changes(before, after, self._new_versions)
        before_sequences = self.state.sequences
        self.state.snapshot, self.state.sequences = snapshot, sequences
        advanced = _sequence_steps(before_sequences, sequences)
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
            snapshot, committed, sequences = conn.execute(_WINDOW, params).fetchone()  # type: ignore[misc]
        else:
            snapshot, sequences = conn.execute(
                f"SELECT pg_current_snapshot()::text, ({_SEQUENCES})"
            ).fetchone()  # type: ignore[misc]
        catalog = {row[0] for row in conn.execute(_CATALOG)}
        tables = [row[0] for row in conn.execute(_TABLES)]
        xids = [str(x % 2**32) for x in committed]  # xmin is the 32-bit transaction id
        self._new_versions = {}
        new_counts: dict[str, int] = {}
        if tables and (counts is None or xids):
            written = "xmin = ANY(%(xids)s::text[]::xid[])"
            query = " UNION ALL ".join(  # '%' in a name would read as a placeholder
                f"SELECT {i}, count(*), count(*) FILTER (WHERE {written}) FROM "
                + table.replace("%", "%%")
                for i, table in enumerate(tables)
            )
            for i, total, new in conn.execute(query, {"xids": xids}):
                new_counts[tables[i]] = int(total)
                self._new_versions[tables[i]] = int(new)
        elif counts is not None:
            new_counts = dict(counts)
        state = _PgState(snapshot, catalog, sequences, new_counts)
        self.state = state
        return state


def _sequence_steps(
    before: dict[str, list[int | None]], after: dict[str, list[int | None]]
) -> dict[str, int]:
    """How many `nextval` calls each sequence moved by (per its increment)."""
    steps: dict[str, int] = {}
    for name, (last, start, increment) in after.items():
        if name not in before:
            continue  # a new sequence is reported as created
        old_last = before[name][0]
        step = increment or 1
        old = old_last if old_last is not None else (start or 1) - step
        new = last if last is not None else (start or 1) - step
        if new != old:
            steps[name] = (new - old) // step
    return steps


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
    created = sorted(after.catalog - before.catalog)
    dropped = sorted(before.catalog - after.catalog)
    if created:
        out["created"] = created
    if dropped:
        out["dropped"] = dropped
    sequences = _sequence_steps(before.sequences, after.sequences)
    if sequences:
        out["sequences"] = sequences
    return out or None


class RedisProbe:
    MARKER_CHANNEL = "__stability_leftovers__"

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis
        self.url = url
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
        flags = str(
            self.client.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        )
        wanted = "".join(sorted(set(flags) | set("EAn")))  # key events, all types, new keys
        if set(wanted) != set(flags):
            self.client.config_set("notify-keyspace-events", wanted)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self.pubsub.psubscribe("__keyevent@*__:*")
        self.pubsub.subscribe(self.MARKER_CHANNEL)
        self._marker = 0
        self._db_clients: dict[int, Any] = {}
        self.measure()  # drain the subscription confirmations: a clean start

    def close(self) -> None:
        self.pubsub.close()
        for client in self._db_clients.values():
            client.close()
        self.client.close()

    def measure(self) -> dict[str, Any] | None:
        self._marker += 1
        marker = str(self._marker)
        self.client.publish(self.MARKER_CHANNEL, marker)
        events: list[tuple[str, str]] = []
        deadline = time.monotonic() + _MARKER_TIMEOUT_S
        while True:
            message = self.pubsub.get_message(timeout=1.0)
            if message is None:  # a confirmation, or nothing yet
                if time.monotonic() > deadline:
                    break  # the marker never came (should not happen): what we have
                continue
            channel = str(message["channel"])
            if channel == self.MARKER_CHANNEL:
                if message["data"] == marker:
                    break
                continue
            # __keyevent@<db>__:<event>
            db = int(channel[len("__keyevent@") : channel.index("__:")])
            events.append((channel.rsplit(":", 1)[1], f"db{db}:{message['data']}"))
        if not events:
            return None
        keys = list(dict.fromkeys(key for _, key in events))
        exists = {key: self._exists(key) for key in keys}
        return redis_changes(events, exists) or None

    def _exists(self, key: str) -> bool:
        db_name, _, name = key.partition(":")
        db = int(db_name[2:])
        client = self._db_clients.get(db)
        if client is None:
            client = self._db_clients[db] = self._redis.Redis.from_url(
                self.url, db=db, decode_responses=True
            )
        return bool(client.exists(name))
