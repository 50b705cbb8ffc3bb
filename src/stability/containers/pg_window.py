"""The leftover check's window query, sent when a test ends and read when the next starts.

A window ends when the server runs the query (its `pg_current_snapshot()`), not when the
answer comes back, so nothing is lost by reading the answer later, as long as it is read
before the next test starts: the read waits for it, so the snapshot is taken before that
test does anything. Meanwhile pytest reports the test and the server works on another
core: the round trip no longer adds to every test.

The statement goes through the connection's libpq handle (`conn.pgconn`), prepared once,
with text parameters and results: the one query run per test costs a third of the CPU
it costs through a cursor. Nothing else may use the connection while an answer is due.
"""

from __future__ import annotations

import select
import time
from collections.abc import Mapping, Sequence
from typing import Any

_ANSWER_TIMEOUT_S = 30.0


class WindowQuery:
    """One prepared statement: `send(params)` without waiting, `receive()` its one row as
    text (None for NULL). `sql` uses psycopg's `%(name)s` placeholders, for `names`."""

    def __init__(
        self, conn: Any, statement: str, sql: str, names: Sequence[str], prepared: bool = False
    ) -> None:
        """`prepared`: `statement` was prepared already (`prepare_window_queries`)."""
        self.pgconn = conn.pgconn
        self._names = tuple(names)
        self._statement = statement.encode()
        if not prepared:
            _check(self.pgconn.prepare(self._statement, _numbered(sql, names).encode()))
        self.pending = False

    def send(self, params: dict[str, Any]) -> None:
        values = [_as_text(params[name]) for name in self._names]
        self.pgconn.send_query_prepared(self._statement, values)
        self.pending = True

    def receive(self) -> list[str | None]:
        """The answer to the last `send`, waiting for it with the GIL released (a thread a
        test left running goes on meanwhile)."""
        pgconn, first = self.pgconn, None
        self.pending = False
        deadline = time.monotonic() + _ANSWER_TIMEOUT_S
        while True:
            while pgconn.is_busy():
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([pgconn.socket], [], [], left)[0]:
                    raise TimeoutError(f"no answer from PostgreSQL in {_ANSWER_TIMEOUT_S:g} s")
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                break
            if first is None:
                first = result
        if first is None:
            raise ConnectionError("PostgreSQL sent no answer")
        _check(first)
        return [_decoded(first.get_value(0, column)) for column in range(first.nfields)]


def window_queries(
    conn: Any, sql_by_sequences: Mapping[bool, str], names: Sequence[str], prepared: bool = False
) -> dict[bool, WindowQuery]:
    """The window query with and without the sequences, each prepared on `conn` (or
    already, by the statements of `prepare_window_queries`)."""
    return {
        sequences: WindowQuery(conn, _window_name(sequences), sql, names, prepared)
        for sequences, sql in sql_by_sequences.items()
    }


def prepare_window_queries(sql_by_sequences: Mapping[bool, str], names: Sequence[str]) -> list[str]:
    """The SQL `PREPARE` statements of `window_queries`, to send with others at once."""
    return [
        f"PREPARE {_window_name(sequences)} AS {_numbered(sql, names)}"
        for sequences, sql in sql_by_sequences.items()
    ]


def _window_name(sequences: bool) -> str:
    return f"stability_window_{int(sequences)}"


def _numbered(sql: str, names: Sequence[str]) -> str:
    """psycopg's `%(name)s` placeholders as PostgreSQL's `$1`, `$2`, ..."""
    for number, name in enumerate(names, 1):
        sql = sql.replace(f"%({name})s", f"${number}")
    return sql.replace("%%", "%")


def bigints(text: str | None) -> list[int]:
    """`{1,2,3}` (a bigint[] as text) as a list."""
    return [int(x) for x in text[1:-1].split(",") if x] if text else []


def bigint_pairs(text: str | None) -> list[list[int | None]] | None:
    """`{{1,2},{3,NULL}}` (a bigint[][] as text) as lists, as psycopg loads it."""
    if text is None:
        return None
    if text == "{}":
        return []
    return [
        [None if x == "NULL" else int(x) for x in pair.split(",")]
        for pair in text[2:-2].split("},{")
    ]


def _as_text(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ("{" + ",".join(str(int(x)) for x in value) + "}").encode()
    return str(value).encode()


def _decoded(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _check(result: Any) -> None:
    import psycopg
    from psycopg import pq

    if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        message = (result.error_message or b"").decode(errors="replace").strip()
        raise psycopg.OperationalError(message or f"PostgreSQL answered {result.status}")
