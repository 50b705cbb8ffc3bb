"""What the leftover check's PostgreSQL probe reads as it opens (`read`), and the same
reading made once for a snapshot image, when it is made.

A container started from the image holds exactly that until somebody connects to it, so
the probe of a container nobody has touched yet (one the runner's pool hands to a
repetition, whose address no test knew before the probe opened) takes the image's
reading instead of reading the catalog, the sequences and every table's rows again. On a
fresh server of 50 tables those reads cost it 35 ms of CPU, against 19 ms for the rest of
the opening (cgroup CPU, fresh idle containers, no warm-up).

It travels as an image label and in the repetition's environment, compressed (catalog
names repeat themselves): too large a schema has none, and its probe reads for itself.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from stability.containers.pg_state import (
    CATALOG,
    SEQUENCE_NAMES,
    SEQUENCE_VALUES,
    TABLES,
    count_rows,
)

MAX_ENCODED = 64 * 1024  # a label, and an environment entry of every repetition


class Baseline(NamedTuple):  # not a dataclass: 1.3 ms less to import, in every repetition
    counts: dict[str, int]  # each table's rows
    catalog: list[str]  # the user objects, as `CATALOG` names them
    sequence_values: list[list[int | None]]  # `SEQUENCE_VALUES`: [oid, last value]
    sequence_names: list[list[Any]]  # `SEQUENCE_NAMES`: [oid, name, start, increment]


def read(conn: Any, also: Iterable[str] = ()) -> tuple[str, Baseline]:
    """The server's snapshot (`pg_current_snapshot()`) and the database's state as of it,
    in one transaction and one round trip (a pipeline, with the statements `also`: on a
    busy machine every round trip waits for the scheduler), the rows counted in a second.
    `conn` in autocommit; the reading's queries stay prepared on it."""
    with conn.pipeline():
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")  # one snapshot
        snapshot = conn.execute("SELECT pg_current_snapshot()::text")
        values = conn.execute(SEQUENCE_VALUES, prepare=True)
        names = conn.execute(SEQUENCE_NAMES, prepare=True)
        catalog = conn.execute(CATALOG, prepare=True)
        tables = conn.execute(TABLES, {"unlogged": False})
        for statement in also:
            conn.execute(statement)
    now = str(snapshot.fetchone()[0])
    counts, _ = count_rows(conn, [str(row[0]) for row in tables], [])
    conn.execute("COMMIT")
    return now, _baseline(
        counts, sorted(row[0] for row in catalog), values.fetchone()[0] or [], names.fetchall()
    )


def encode(baseline: Baseline) -> str:
    """As a label value: URL-safe base64 of compressed JSON ("" when over MAX_ENCODED)."""
    packed = zlib.compress(json.dumps(baseline._asdict(), separators=(",", ":")).encode(), 6)
    text = base64.urlsafe_b64encode(packed).decode().rstrip("=")
    return text if len(text) <= MAX_ENCODED else ""


def decode(text: str | None) -> Baseline | None:
    """The baseline `encode` gave (None: none, or not ours to understand)."""
    if not text:
        return None
    try:
        data = json.loads(zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))))
        baseline = _baseline(
            data["counts"], data["catalog"], data["sequence_values"], data["sequence_names"]
        )
    except (ValueError, TypeError, KeyError, AttributeError, zlib.error):
        return None
    return baseline


def _baseline(counts: Any, catalog: Any, values: Any, names: Any) -> Baseline:
    """A Baseline of the rows as read, or as decoded (whose types are checked here)."""
    return Baseline(
        counts={str(table): int(n) for table, n in counts.items()},
        catalog=[str(name) for name in catalog],
        sequence_values=[[int(oid), None if last is None else int(last)] for oid, last in values],
        sequence_names=[
            [int(oid), str(name), int(start), int(step)] for oid, name, start, step in names
        ],
    )
