"""What both PostgreSQL probes of the leftover check read: the catalog, the sequences,
the tables and their row counts (the queries, and how to compare two readings)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

APPLICATION_NAME = "pytest-stability leftovers"
USER_SCHEMAS = (
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
CATALOG = f"""
    SELECT (CASE c.relkind {" ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _KINDS.items())}
            ELSE 'relation' END) || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {USER_SCHEMAS} AND c.relkind <> 't'
    UNION ALL SELECT 'schema ' || quote_ident(n.nspname) FROM pg_namespace n
    WHERE {USER_SCHEMAS} AND n.nspname <> 'public'
    UNION ALL SELECT 'function ' || p.oid::regprocedure::text
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER_SCHEMAS}
    UNION ALL SELECT 'extension ' || quote_ident(extname) FROM pg_extension
    WHERE extname <> 'plpgsql'
"""
# Every sequence's oid and last value, as pairs in a plain array: cheap enough for every
# measure (about 0.2 ms with 50 sequences; `pg_sequences` as JSON took 0.8 ms). Names,
# starts and increments (`SEQUENCE_NAMES`) are read only when the sequences or the
# catalog may have changed (`Sequences`).
SEQUENCE_VALUES = """
    SELECT array_agg(ARRAY[c.oid::bigint,
                           CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
                                THEN pg_sequence_last_value(c.oid) END] ORDER BY c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND n.nspname !~ '^pg_temp_'
"""
SEQUENCE_NAMES = """
    SELECT c.oid::bigint, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
        s.seqstart, s.seqincrement
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_sequence s ON s.seqrelid = c.oid
    WHERE c.relkind = 'S' AND n.nspname !~ '^pg_temp_'
"""
# The window's committed transactions: in progress at the previous snapshot or started
# after it, and finished by this one (but for `own`, the probe's own).
WINDOW = f"""
    WITH now AS (SELECT pg_current_snapshot() AS snap)
    SELECT snap::text,
        ARRAY(SELECT x FROM generate_series(%(low)s::bigint,
                                            pg_snapshot_xmax(snap)::text::bigint - 1) AS x
              WHERE (x >= %(prev_xmax)s OR x = ANY(%(prev_xip)s::bigint[]))
                AND NOT x = ANY(%(own)s::bigint[])
                AND pg_xact_status(x::text::xid8) = 'committed'),
        ({SEQUENCE_VALUES})
    FROM now
"""
# The same without the sequences (half its cost with 50 of them), for a window whose
# sequence steps would be thrown away (`LeftoverWatch`: tests in `pg_transaction`).
WINDOW_WITHOUT_SEQUENCES = WINDOW.replace(f"({SEQUENCE_VALUES})", "NULL")
# Tables whose rows are counted: every one (`unlogged`: those logical decoding cannot see).
TABLES = f"""
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {USER_SCHEMAS} AND c.relkind = 'r' AND (NOT %(unlogged)s OR c.relpersistence = 'u')
    ORDER BY 1
"""


def window_params(snapshot: str, own: Iterable[int] = ()) -> dict[str, Any]:
    """The parameters of WINDOW after `snapshot` (`xmin:xmax:xip,...`)."""
    _, xmax, xip = snapshot.split(":")
    prev_xmax, prev_xip = int(xmax), [int(x) for x in xip.split(",") if x]
    return {
        "low": min([prev_xmax, *prev_xip]),
        "prev_xmax": prev_xmax,
        "prev_xip": prev_xip,
        "own": list(own),
    }


def count_rows(
    conn: Any, tables: list[str], xids: Iterable[int | str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Each table's row count, and how many of its rows the transactions `xids` wrote
    (their `xmin`, the 32-bit transaction id): one scan of each table."""
    if not tables:
        return {}, {}
    written = "xmin = ANY(%(xids)s::text[]::xid[])"
    query = " UNION ALL ".join(  # '%' in a name would read as a placeholder
        f"SELECT {i}, count(*), count(*) FILTER (WHERE {written}) FROM " + table.replace("%", "%%")
        for i, table in enumerate(tables)
    )
    counts: dict[str, int] = {}
    new: dict[str, int] = {}
    for i, total, new_rows in conn.execute(query, {"xids": [str(int(x) % 2**32) for x in xids]}):
        counts[tables[i]] = int(total)
        new[tables[i]] = int(new_rows)
    return counts, new


class Sequences:
    """The sequences by name: `[last value, start, increment]`, from the pairs of
    `SEQUENCE_VALUES` a window query returns; names read again when the set of
    sequences changed or a transaction committed (ALTER SEQUENCE keeps the oid)."""

    def __init__(self) -> None:
        self._pairs: Any = None
        self._names: dict[int, tuple[str, int, int]] = {}
        self.by_name: dict[str, list[int | None]] = {}

    def start(self, pairs: Any, names: Any) -> dict[str, Any]:
        """The first reading, from the rows of SEQUENCE_VALUES and SEQUENCE_NAMES."""
        self._names = {int(oid): (name, start, step) for oid, name, start, step in names}
        return self.now(None, pairs or [], committed=False)  # NULL: no sequences

    def forget_names(self) -> None:
        """A transaction committed that a reading did not see: names are read again."""
        self._names = {}

    def now(self, conn: Any, pairs: Any = None, *, committed: bool = True) -> dict[str, Any]:
        """By name, as of `pairs` (from the window query; None: read them now)."""
        if pairs is None:
            pairs = conn.execute(SEQUENCE_VALUES, prepare=True).fetchone()[0]
        pairs = pairs or []
        if pairs == self._pairs and self._names and not committed:
            return self.by_name
        oids = [int(oid) for oid, _ in pairs]
        if committed or any(oid not in self._names for oid in oids):
            self._names = {
                int(oid): (name, start, step)
                for oid, name, start, step in conn.execute(SEQUENCE_NAMES, prepare=True)
            }
        self._pairs = pairs
        self.by_name = {}
        for oid, last in pairs:
            known = self._names.get(int(oid))
            if known is not None:  # else created after the pairs were read: next time
                name, start, step = known
                self.by_name[name] = [last, start, step]
        return self.by_name


def sequence_steps(
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


def catalog_changes(before: set[str], after: set[str]) -> dict[str, list[str]]:
    """Objects created and dropped between two catalog readings."""
    out = {}
    created, dropped = sorted(after - before), sorted(before - after)
    if created:
        out["created"] = created
    if dropped:
        out["dropped"] = dropped
    return out


# Tables never analyzed (reltuples stays -1 until the first ANALYZE or VACUUM). A
# snapshot image is analyzed when it is made and carries its statistics, so a database
# started from one has none left to analyze.
_NEVER_ANALYZED = f"""
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {USER_SCHEMAS} AND c.relkind IN ('r', 'm') AND c.reltuples < 0
    ORDER BY 1
"""


def analyze_never_analyzed(conn: Any) -> list[str]:
    """ANALYZE the tables that never were, so that autovacuum does not during the first
    tests (each of its ANALYZEs commits, and a commit is work for the check); which."""
    tables = [str(row[0]) for row in conn.execute(_NEVER_ANALYZED)]
    if tables:
        conn.execute("ANALYZE " + ", ".join(tables))
    return tables
