"""Rows from test_decoding's change lines (pure: the lines as PostgreSQL 15 prints them)."""

from __future__ import annotations

import pytest

from stability.containers.decoded_rows import (
    FULL,
    TableWrites,
    parse_tuple,
    read_window,
    row_changes,
)


def test_a_printed_row_splits_into_columns_and_values() -> None:
    text = (
        """name[text]:'it''s [a] test: x' n[integer]:-3 "my col"[character varying]:'a b' """
        """tags[text[]]:'{x,y}' flag[boolean]:true gone[text]:null bits[bit]:B'0101'"""
    )
    assert parse_tuple(text) == [
        ("name", "'it''s [a] test: x'"),
        ("n", "-3"),
        ('"my col"', "'a b'"),
        ("tags", "'{x,y}'"),
        ("flag", "true"),
        ("gone", "null"),
        ("bits", "B'0101'"),
    ]


def test_a_quoted_name_may_hold_brackets_and_quotes() -> None:
    assert parse_tuple('"a""[b]"[integer]:1') == [('"a""[b]"', "1")]


def test_rows_are_told_apart_by_their_key() -> None:
    lines = [
        ("INSERT", "id[integer]:1 v[text]:'a'"),
        ("INSERT", "id[integer]:2 v[text]:'b'"),
        ("UPDATE", "id[integer]:2 v[text]:'c'"),  # a new row, written again
        ("DELETE", "id[integer]:1"),  # a new row, gone again
        ("UPDATE", "id[integer]:7 v[text]:'d'"),  # an old row
        ("UPDATE", "id[integer]:7 v[text]:'e'"),
        ("DELETE", "id[integer]:8"),
    ]
    assert row_changes(lines, ("id",)) == {"inserted": 1, "updated": 1, "deleted": 1}


def test_a_row_whose_key_changed_is_updated() -> None:
    lines = [("UPDATE", "old-key: id[integer]:1 new-tuple: id[integer]:10 v[text]:'a'")]
    assert row_changes(lines, ("id",)) == {"inserted": 0, "updated": 1, "deleted": 0}
    inserted_then_moved = [
        ("INSERT", "id[integer]:2 v[text]:'a'"),
        ("UPDATE", "old-key: id[integer]:2 new-tuple: id[integer]:3 v[text]:'a'"),
    ]
    assert row_changes(inserted_then_moved, ("id",)) == {
        "inserted": 1,
        "updated": 0,
        "deleted": 0,
    }


def test_composite_keys_in_column_order_and_full_identity() -> None:
    lines = [
        ("INSERT", "a[integer]:1 b[integer]:2 note[text]:'x'"),
        ("DELETE", "a[integer]:1 b[integer]:2"),
    ]
    assert row_changes(lines, ("a", "b")) == {"inserted": 0, "updated": 0, "deleted": 0}
    full = [
        ("INSERT", "a[integer]:1 note[text]:null"),
        ("DELETE", "a[integer]:1"),  # nulls are left out of an old row
    ]
    assert row_changes(full, FULL) == {"inserted": 0, "updated": 0, "deleted": 0}


@pytest.mark.parametrize(
    ("lines", "identity"),
    [
        ([("DELETE", "(no-tuple-data)")], ("id",)),
        ([("INSERT", "x[integer]:1")], ()),
        ([("UPDATE", "x[integer]:1")], ("id",)),  # the key column is not in the row
    ],
)
def test_without_identity_rows_cannot_be_told_apart(
    lines: list[tuple[str, str]], identity: tuple[str, ...]
) -> None:
    assert row_changes(lines, identity) is None


@pytest.mark.parametrize(
    ("inserted", "updated", "deleted", "mixed"),
    [(3, 0, 0, False), (0, 0, 2, False), (1, 0, 1, True), (0, 1, 0, True)],
)
def test_counts_alone_settle_inserts_only_or_deletes_only(
    inserted: int, updated: int, deleted: int, mixed: bool
) -> None:
    assert TableWrites("public.t", False, inserted, updated, deleted).mixed is mixed


def test_a_window_counts_each_tables_changes_after_its_last_truncate() -> None:
    changes = [
        ("7", "BEGIN 7"),
        ("7", "table public.items: INSERT: name[text]:'a' n[integer]:1"),
        ("7", "table public.items: INSERT: name[text]:'b: TRUNCATE:' n[integer]:2"),
        ("8", "BEGIN 8"),
        ("8", 'table public.items, "My Schema"."a.b": TRUNCATE: (no-flags)'),
        ("8", "table public.items: INSERT: name[text]:'c' n[integer]:3"),
        ("8", """table "My Schema"."a.b": UPDATE: k[integer]:1"""),
        ("9", "BEGIN 9"),
        ("9", "message: transactional: 1 prefix: ours, sz: 0 content:"),
        ("10", "BEGIN 10"),  # a transaction with nothing decoded (DDL)
    ]
    window = read_window(changes, "ours")
    assert window.xids == {"7", "8", "9", "10"}
    assert window.marked == {"9"}
    assert window.writes == [
        TableWrites("public.items", True, 1, 0, 0),
        TableWrites('"My Schema"."a.b"', True, 0, 1, 0, (("UPDATE", "k[integer]:1"),)),
    ]
