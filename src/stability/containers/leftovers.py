"""What a test left behind: the shape of a leftover, how two combine, how to say it.

Pure: the probes in `state_probes` measure, the plugin in `leftover_watch` decides what
belongs to which test, and this module holds the record they produce (stored as JSON in
`executions.leftovers`, NULL when the test left nothing):

    {
      "postgres": {
        "rows": {"public.sent_emails": {"inserted": 1, "updated": 0, "deleted": 0}},
        "created": ["table public.scratch"], "dropped": [],
        "sequences": {"public.orders_id_seq": 3}        # advanced by
      },
      "redis": {"added": {"count": 2, "examples": ["db0:cart:7"]}, "changed": ..., "removed": ...},
      "threads": ["Thread-3 (send)"],                   # started by the test, still running
      "late": true,                  # some of it happened after the test had ended
      "bypassed_transaction": true   # it used pg_transaction, yet rows stayed behind
    }
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

EXAMPLE_KEYS = 3  # Redis key names kept per kind
REDIS_KINDS = ("added", "changed", "removed")
ROW_KINDS = ("inserted", "updated", "deleted")
_SIGN = {"inserted": "+", "updated": "~", "deleted": "-"}

Leftovers = dict[str, Any]


def is_empty(leftovers: Mapping[str, Any] | None) -> bool:
    """True when nothing was left behind (flags alone are not a leftover)."""
    if not leftovers:
        return True
    return not (leftovers.get("postgres") or leftovers.get("redis") or leftovers.get("threads"))


def row_changes(before: int, after: int, new_versions: int) -> dict[str, int]:
    """Inserted, updated, deleted from a table's row count before and after and the number
    of its rows written by the window's committed transactions (inserted or updated ones).

    The three are not always separable: the fewest changes that explain the numbers.
    """
    net = after - before
    inserted = max(net, 0)
    updated = max(new_versions - inserted, 0)
    deleted = inserted - net
    if new_versions < inserted:  # rows counted as new but written before the window
        inserted = new_versions
        deleted = inserted - net
    return {"inserted": inserted, "updated": updated, "deleted": max(deleted, 0)}


def redis_changes(
    events: Iterable[tuple[str, str]], exists_after: Mapping[str, bool]
) -> dict[str, dict[str, Any]]:
    """Added, changed and removed keys from a window's keyspace events, in order.

    `events` are (event, key) pairs, `exists_after` whether each key exists at the end.
    A key whose first event is `new` did not exist before. Keys that only expired or were
    evicted are the server's doing, not a test's, and so are keys added and gone again.
    """
    first: dict[str, str] = {}
    by_test: set[str] = set()
    for event, key in events:
        first.setdefault(key, event)
        if event not in ("expired", "evicted"):
            by_test.add(key)
    kinds: dict[str, list[str]] = {kind: [] for kind in REDIS_KINDS}
    for key in sorted(by_test):
        existed = first[key] != "new"
        exists = exists_after.get(key, False)
        if exists and not existed:
            kinds["added"].append(key)
        elif existed and not exists:
            kinds["removed"].append(key)
        elif existed and exists:
            kinds["changed"].append(key)
    return {
        kind: {"count": len(keys), "examples": keys[:EXAMPLE_KEYS]}
        for kind, keys in kinds.items()
        if keys
    }


def merge(a: Leftovers | None, b: Leftovers | None) -> Leftovers | None:
    """Both windows' leftovers as one (a test's own, and what came after it ended)."""
    if not a:
        return b or None
    if not b:
        return a
    merged: Leftovers = {}
    pg = _merge_postgres(a.get("postgres") or {}, b.get("postgres") or {})
    if pg:
        merged["postgres"] = pg
    redis = _merge_redis(a.get("redis") or {}, b.get("redis") or {})
    if redis:
        merged["redis"] = redis
    threads = sorted(set(a.get("threads", ())) | set(b.get("threads", ())))
    if threads:
        merged["threads"] = threads
    for flag in ("late", "bypassed_transaction"):
        if a.get(flag) or b.get(flag):
            merged[flag] = True
    return merged


def _merge_postgres(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rows: dict[str, dict[str, int]] = {}
    for source in (a.get("rows", {}), b.get("rows", {})):
        for table, change in source.items():
            total = rows.setdefault(table, dict.fromkeys(ROW_KINDS, 0))
            for kind in ROW_KINDS:
                total[kind] += int(change.get(kind, 0))
    if rows:
        out["rows"] = rows
    for key in ("created", "dropped"):
        names = sorted(set(a.get(key, ())) | set(b.get(key, ())))
        if names:
            out[key] = names
    sequences: dict[str, int] = dict(a.get("sequences", {}))
    for name, step in b.get("sequences", {}).items():
        sequences[name] = sequences.get(name, 0) + int(step)
    if sequences:
        out["sequences"] = sequences
    return out


def _merge_redis(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in REDIS_KINDS:
        x, y = a.get(kind), b.get(kind)
        if x or y:
            examples = list(
                dict.fromkeys([*(x or {}).get("examples", ()), *(y or {}).get("examples", ())])
            )
            out[kind] = {
                "count": (x or {}).get("count", 0) + (y or {}).get("count", 0),
                "examples": examples[:EXAMPLE_KEYS],
            }
    return out


def describe(leftovers: Mapping[str, Any] | None) -> str:
    """One line: `rows: public.sent_emails +1 inserted; threads: Thread-3 (send); ...`."""
    if is_empty(leftovers):
        return "nothing"
    assert leftovers is not None
    parts: list[str] = []
    pg = leftovers.get("postgres") or {}
    rows = [
        f"{table} "
        + " ".join(f"{_SIGN[kind]}{change[kind]} {kind}" for kind in ROW_KINDS if change.get(kind))
        for table, change in sorted(pg.get("rows", {}).items())
    ]
    if rows:
        parts.append("rows: " + ", ".join(rows))
    for key in ("created", "dropped"):
        if pg.get(key):
            parts.append(f"{key}: " + ", ".join(pg[key]))
    if pg.get("sequences"):
        parts.append(
            "sequences advanced: "
            + ", ".join(f"{name} +{step}" for name, step in sorted(pg["sequences"].items()))
        )
    redis = leftovers.get("redis") or {}
    keys = [
        f"{redis[kind]['count']} {kind} (e.g. {', '.join(redis[kind]['examples'])})"
        for kind in REDIS_KINDS
        if redis.get(kind)
    ]
    if keys:
        parts.append("redis keys: " + ", ".join(keys))
    if leftovers.get("threads"):
        parts.append("threads still running: " + ", ".join(leftovers["threads"]))
    text = "; ".join(parts)
    notes = []
    if leftovers.get("bypassed_transaction"):
        notes.append("written outside its pg_transaction: the rollback did not cover it")
    if leftovers.get("late"):
        notes.append("partly after the test ended")
    return text + (f" [{'; '.join(notes)}]" if notes else "")


def dumps(leftovers: Leftovers | None) -> str | None:
    """The stored form: compact JSON, or None when nothing was left."""
    return None if is_empty(leftovers) else json.dumps(leftovers, sort_keys=True)


def loads(text: str | None) -> Leftovers | None:
    """The stored form back; None for NULL, empty or unreadable text."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and not is_empty(value) else None
