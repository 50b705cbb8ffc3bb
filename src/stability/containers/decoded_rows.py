"""Row changes from PostgreSQL's logical decoding (`test_decoding` text), pure.

`pg_decoding` reads a window's committed changes, already counted per table in SQL; a
table where rows were both written and deleted, or updated, comes with its change lines,
and here they are reduced to the rows inserted, updated and deleted, by row identity:
the table's primary key (or replica identity index, or every column for REPLICA
IDENTITY FULL).

A test_decoding change line, after `table schema.name: OPERATION: `:

    INSERT  name[text]:'c' n[integer]:3
    UPDATE  name[text]:'a' n[integer]:5                      (key unchanged: new row)
    UPDATE  old-key: name[text]:'b' new-tuple: name[text]:'bb' n[integer]:2
    DELETE  name[text]:'c'                                   (the key columns only)
    DELETE  (no-tuple-data)                                  (a table without identity)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

NO_DATA = "(no-tuple-data)"
_OLD_KEY = "old-key: "
_NEW_TUPLE = " new-tuple: "
FULL = ("*",)  # REPLICA IDENTITY FULL: the row is its own identity
_OPERATIONS = ("INSERT", "UPDATE", "DELETE")
# A qualified table name as test_decoding prints it (quote_identifier on each part).
_PART = r'(?:"(?:[^"]|"")*"|[^ .",:]+)'
_NAME = rf"{_PART}\.{_PART}"
_CHANGE = re.compile(rf"table ({_NAME}): (INSERT|UPDATE|DELETE): (.*)", re.S)
_TRUNCATE = re.compile(r"table (.*): TRUNCATE:", re.S)
_NAMES = re.compile(_NAME)


@dataclass(frozen=True)
class TableWrites:
    """One table's committed changes in a window (after its last TRUNCATE, if any)."""

    table: str
    truncated: bool
    inserted: int
    updated: int
    deleted: int
    lines: tuple[tuple[str, str], ...] = ()  # (operation, payload): only when mixed

    @property
    def mixed(self) -> bool:
        """Whether counting operations cannot tell which rows are new."""
        return mixed(self.inserted, self.updated, self.deleted)


@dataclass
class _Table:
    truncated: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_OPERATIONS, 0))
    lines: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Window:
    """A decoded window: the transactions that committed in it, and the rows they wrote."""

    xids: set[str] = field(default_factory=set)  # committed, each with its BEGIN line
    marked: set[str] = field(default_factory=set)  # those that carry a marker message
    writes: list[TableWrites] = field(default_factory=list)


def read_window(changes: Iterable[tuple[str, str]], marker_prefix: str) -> Window:
    """Reduce (xid, line) pairs of test_decoding in commit order to a window."""
    window = Window()
    tables: dict[str, _Table] = {}
    marker = f"message: transactional: 1 prefix: {marker_prefix}, "
    for xid, line in changes:
        if line.startswith("table "):
            change = _CHANGE.fullmatch(line)
            if change is not None:
                table = tables.setdefault(change[1], _Table())
                table.counts[change[2]] += 1
                table.lines.append((change[2], change[3]))
                continue
            truncate = _TRUNCATE.match(line)
            for name in _NAMES.findall(truncate[1]) if truncate else ():
                tables[name] = _Table(truncated=True)  # what came before is gone
        elif line.startswith("BEGIN"):
            window.xids.add(xid)
        elif line.startswith(marker):
            window.marked.add(xid)
    for name, table in tables.items():
        inserted, updated, deleted = (table.counts[op] for op in _OPERATIONS)
        lines = tuple(table.lines) if mixed(inserted, updated, deleted) else ()
        window.writes.append(TableWrites(name, table.truncated, inserted, updated, deleted, lines))
    return window


def mixed(inserted: int, updated: int, deleted: int) -> bool:
    return updated > 0 or (inserted > 0 and deleted > 0)


def parse_tuple(text: str) -> list[tuple[str, str]]:
    """`col[type]:value ...` as (column, value) pairs; names and values as printed."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        if text[i] == '"':  # a quoted column name, "" inside
            j = _past_quoted(text, i)
        else:
            j = text.find("[", i)
            if j < 0:
                break
        name = text[i:j]
        end = text.find("]:", j)  # the type, which may hold [] itself (integer[])
        if end < 0:
            break
        i = end + 2
        value_end = _value_end(text, i)
        out.append((name, text[i:value_end]))
        i = value_end
    return out


def _value_end(text: str, i: int) -> int:
    n = len(text)
    if text.startswith("B'", i):
        i += 1
    if i < n and text[i] == "'":  # a literal, '' inside
        return _past_quoted(text, i)
    j = text.find(" ", i)
    return n if j < 0 else j


def _past_quoted(text: str, i: int) -> int:
    """Just past the quoted token that starts at `i` (its quote doubled inside it);
    the end of `text` when it is not closed."""
    quote, j, n = text[i], i + 1, len(text)
    while j < n:
        if text[j] == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def row_key(text: str, identity: Sequence[str]) -> tuple[tuple[str, str], ...] | None:
    """The identity columns of one printed row (None: it has none of them)."""
    pairs = [
        (name, value)
        for name, value in parse_tuple(text)
        if value not in ("null", "unchanged-toast-datum") and (identity == FULL or name in identity)
    ]
    return tuple(pairs) or None


def row_changes(lines: Iterable[tuple[str, str]], identity: Sequence[str]) -> dict[str, int] | None:
    """Inserted, updated and deleted rows from one table's change lines in commit order,
    each row followed by its identity; None when rows cannot be told apart (a table
    without primary key or replica identity).

    A row that existed before (its first change an update or delete) and is there at the
    end was updated; one that did not and is, inserted; one gone again, nothing. A row
    whose key changed counts as updated, not as one deleted and one inserted.
    """
    if not identity:
        return None
    existed: dict[tuple[tuple[str, str], ...], bool] = {}
    present: dict[tuple[tuple[str, str], ...], bool] = {}
    moved = 0
    for operation, payload in lines:
        if payload == NO_DATA:
            return None
        new_row = operation == "INSERT"
        if operation == "UPDATE" and payload.startswith(_OLD_KEY):
            old, _, payload = payload[len(_OLD_KEY) :].partition(_NEW_TUPLE)
            old_key = row_key(old, identity)
            if old_key is None:
                return None
            existed.setdefault(old_key, True)
            present[old_key] = False
            new_row, moved = True, moved + 1  # the row under its new key
        key = row_key(payload, identity)
        if key is None:
            return None
        existed.setdefault(key, not new_row)
        present[key] = operation != "DELETE"
    inserted = sum(1 for k, there in present.items() if there and not existed[k])
    updated = sum(1 for k, there in present.items() if there and existed[k])
    deleted = sum(1 for k, there in present.items() if not there and existed[k])
    renamed = min(moved, inserted, deleted)
    return {
        "inserted": inserted - renamed,
        "updated": updated + renamed,
        "deleted": deleted - renamed,
    }
