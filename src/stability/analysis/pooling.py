"""Pooling only like with like: sessions run under the same conditions.

A rate pooled over sessions run with different pytest arguments (`-k`, `-n`, ...) or in
different orders (shuffled or not, several runs per process) mixes experiments. A scope
of several sessions therefore keeps those with the conditions of its newest session and
says which it left out; `--pool-all` pools everything.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stability.analysis.models import SessionInfo

# options keys (sessions.options JSON) that change what a run measures; a seed does not
_ORDER_KEYS = {"shuffle": "shuffled", "in_process": "runs per process"}


def run_conditions(options: str | dict[str, Any] | None) -> str:
    """`pytest args: -k fast; shuffled` from a session's options; `default pytest args`."""
    try:
        data = json.loads(options) if isinstance(options, str) else (options or {})
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    args = data.get("pytest_args") or []
    parts = [f"pytest args: {shlex.join(str(a) for a in args)}" if args else "no pytest args"]
    for key, words in _ORDER_KEYS.items():
        value = data.get(key)
        if value is True:
            parts.append(words)
        elif value not in (None, False, 0, 1, ""):  # off, or one run per process: the default
            parts.append(f"{words}: {value}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Pooled:
    sessions: tuple[SessionInfo, ...]  # pooled, oldest first
    left_out: tuple[SessionInfo, ...] = ()  # other conditions than the newest session's

    @property
    def conditions(self) -> str:
        return self.sessions[-1].conditions if self.sessions else ""


def pool(sessions: Sequence[SessionInfo], pool_all: bool = False) -> Pooled:
    """The sessions run like the newest one, and the others (unless `pool_all`)."""
    if pool_all or len(sessions) < 2:
        return Pooled(tuple(sessions))
    newest = sessions[-1].conditions
    kept = tuple(s for s in sessions if s.conditions == newest)
    return Pooled(kept, tuple(s for s in sessions if s.conditions != newest))
