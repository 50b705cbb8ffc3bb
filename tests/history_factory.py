"""Write small, hand-made histories into a real DuckDB file for the report tests.

Outcomes are written as one letter per repetition, so a test reads like its history:

    P passed  F failed  E error  T timeout  S skipped  X xfailed  x xpassed
    I infra (the execution is flagged: its container did not start)  . not run
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stability.store.db import connect

LETTERS = {
    "P": "passed",
    "F": "failed",
    "E": "error",
    "T": "timeout",
    "S": "skipped",
    "X": "xfailed",
    "x": "xpassed",
    "I": "failed",
}
T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@dataclass
class History:
    """Collects rows, then `write()`s them into a new or existing history file."""

    path: Path
    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    repetitions: list[tuple[Any, ...]] = field(default_factory=list)
    executions: list[tuple[Any, ...]] = field(default_factory=list)
    starts: list[tuple[Any, ...]] = field(default_factory=list)

    def session(
        self,
        session_id: str,
        tests: Mapping[str, str],
        *,
        label: str | None = "nightly",
        started_at: datetime | None = None,
        commit: str | None = "abc1234def",
        targets: Sequence[str] = ("tests/integration",),
        durations: Mapping[str, float | Sequence[float]] | None = None,
        messages: Mapping[str, str] | None = None,
        rep_status: Mapping[int, str] | None = None,
        startup_s: Mapping[str, float | Sequence[float]] | None = None,
        container_s: Mapping[str, tuple[float | None, float | None]] | None = None,
    ) -> str:
        """A session whose repetitions are given by the letters of each test's history."""
        started = started_at or T0 + timedelta(days=len(self.sessions))
        n = max((len(v) for v in tests.values()), default=0)
        self.sessions.append(
            (
                session_id,
                started,
                started + timedelta(minutes=n),
                label,
                list(targets),
                n,
                "completed",
                commit,
                "main",
                False,
                "ci-host",
                "3.11",
                "9.0",
                "0.1.0",
                "/w",
            )
        )
        durations = durations or {}
        messages = messages or {}
        for number in range(1, n + 1):
            letters = {t: (h[number - 1] if number <= len(h) else ".") for t, h in tests.items()}
            status = (rep_status or {}).get(number) or _rep_status(letters.values())
            rep_start = started + timedelta(seconds=60 * (number - 1))
            self.repetitions.append((session_id, number, 1, rep_start, 5.0, 0, status))
            for i, (nodeid, letter) in enumerate(letters.items()):
                if letter == ".":
                    continue
                outcome = LETTERS[letter]
                call = _pick(durations.get(nodeid, 0.05), number)
                failing = outcome in ("failed", "error", "timeout")
                message = messages.get(nodeid, "AssertionError: assert 1 == 2") if failing else None
                signature = message.split(":")[0] if message else None
                self.executions.append(
                    (
                        session_id,
                        number,
                        nodeid,
                        nodeid.split("::")[0],
                        outcome,
                        "call" if failing else None,
                        0.01,
                        call,
                        0.01,
                        rep_start + timedelta(seconds=i),
                        signature,
                        message,
                        f"Traceback: {message}" if message else None,
                        signature,
                        None,
                        letter == "I",
                        *(container_s or {}).get(nodeid, (None, None)),  # setup, call
                    )
                )
            for service, values in (startup_s or {}).items():
                ready = _pick(values, number)
                self.starts.append(
                    (
                        session_id,
                        number,
                        service,
                        f"{service}:test",
                        rep_start,
                        ready,
                        ready + 0.5,
                        ready >= 0,
                        None if ready >= 0 else "did not start",
                    )
                )
        return session_id

    def write(self) -> Path:
        with connect(self.path, write=True) as conn:
            if self.sessions:
                conn.executemany(
                    "INSERT INTO sessions (id, started_at, finished_at, label, targets, repeat, "
                    "status, git_commit, git_branch, git_dirty, host, python_version, "
                    "pytest_version, package_version, cwd) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self.sessions,
                )
            if self.repetitions:
                conn.executemany(
                    "INSERT INTO repetitions (session_id, number, worker, started_at, wall_s, "
                    "exit_code, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    self.repetitions,
                )
            if self.executions:
                conn.executemany(
                    "INSERT INTO executions (session_id, repetition, nodeid, file, outcome, "
                    "phase, setup_s, call_s, teardown_s, started_at, error_type, message, "
                    "traceback, failure_signature, captured_output, infra, setup_container_s, "
                    "call_container_s) VALUES (" + ", ".join(["?"] * 18) + ")",
                    # rows built by hand may stop before the container columns
                    [(*e, *[None] * (18 - len(e))) for e in self.executions],
                )
            if self.starts:
                conn.executemany(
                    "INSERT INTO container_starts (session_id, repetition, service, image, "
                    "started_at, ready_s, setup_s, ok, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*s[:5], max(s[5], 0), max(s[6], 0), *s[7:]) for s in self.starts],
                )
        self.sessions, self.repetitions, self.executions, self.starts = [], [], [], []
        return self.path


@contextmanager
def empty_history(path: Path) -> Iterator[Path]:
    """A history file with the schema and no rows."""
    with connect(path, write=True):
        pass
    yield path


def _rep_status(letters: Any) -> str:
    seen = set(letters)
    if "I" in seen:
        return "infra"
    if "T" in seen:
        return "timeout"
    if seen & {"F", "E"}:
        return "failed"
    return "passed"


def _pick(value: float | Sequence[float], number: int) -> float:
    if isinstance(value, int | float):
        return float(value)
    return float(value[(number - 1) % len(value)])


XSS_ID = "tests/test_x.py::test_param[<script>alert(1)</script>]"
XSS_MESSAGE = "AssertionError: <img src=x onerror=alert(2)> & </script><script>alert(3)</script>"


def report_history(path: Path) -> Path:
    """A small history with every kind of test, and user data that tries to run code."""
    h = History(path)
    h.session(
        "20261101-020000-aaaa",
        {"tests/test_orders.py::test_create": "PPPPPPPPPP",
         "tests/test_orders.py::test_concurrent": "PPPPPFPPPP",
         XSS_ID: "PPPPPPPPPP"},
        durations={"tests/test_orders.py::test_create": 0.2},
        startup_s={"postgres": [2.0, 2.5, 3.0], "redis": 0.3},
    )  # fmt: skip
    h.session(
        "20261102-020000-bbbb",
        {"tests/test_orders.py::test_create": "PPPPPPPPPPPPPPPPPPPP",
         "tests/test_orders.py::test_concurrent": "PPFPPPPFPPPPFPPPPPPP",
         "tests/test_orders.py::test_broken": "FFFFFFFFFFFFFFFFFFFE",
         "tests/test_orders.py::test_skipped": "SSSSSSSSSSXXXXXXXXXX",
         "tests/test_cache.py::test_expire": "PPPPPPPPPPPPPPPPPPPT",
         XSS_ID: "PPPFPPPPPPPPPFPPPPPP"},
        durations={"tests/test_orders.py::test_create": [0.4, 0.5, 0.6, 1.8],
                   "tests/test_cache.py::test_expire": [1.2, 1.5]},
        messages={XSS_ID: XSS_MESSAGE,
                  "tests/test_orders.py::test_broken": "KeyError: 'order 17'"},
        startup_s={"postgres": [2.0, 3.0, 4.0, 31.0, 2.2], "redis": [0.3, 0.4]},
    )  # fmt: skip
    return h.write()
