"""A guard around one race in pytest's logging plugin.

Each time pytest starts capturing logs (session start, collection, every phase of every
test), `_pytest.logging.catching_logs` walks `logging`'s dict of loggers without
`logging`'s lock. A thread that creates a logger meanwhile makes the walk fail with
"dictionary changed size during iteration": the session crashes, or a test errors in its
setup through no fault of its own. Our plugin runs threads while pytest works (drivers
imported, containers started and probes opened while it collects), and so do the tests
of many suites. The walk now holds the lock that `logging.getLogger` takes, so a new
logger waits for the end of the walk (a few microseconds).
"""

from __future__ import annotations

import logging
from typing import Any


def guard_pytest_logger_walk() -> None:
    """Hold `logging`'s lock while pytest attaches its handlers (idempotent; nothing when
    this pytest or Python has no such walk or lock)."""
    try:
        from _pytest.logging import catching_logs
    except ImportError:
        return
    lock = getattr(logging, "_lock", None)
    enter = catching_logs.__dict__.get("__enter__")
    if lock is None or enter is None or getattr(enter, "__stability_guard__", False):
        return

    def __enter__(self: Any) -> Any:
        with lock:
            return enter(self)

    __enter__.__stability_guard__ = True  # type: ignore[attr-defined]
    catching_logs.__enter__ = __enter__  # type: ignore[method-assign]
