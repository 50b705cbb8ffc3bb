"""The leftover check: a pytest plugin that names the tests that leave state behind.

On under `stability run` (unless `check_leftovers = false`), and in a plain pytest run
with `--stability-leftovers` or `check_leftovers = true`. Around every test that used
PostgreSQL or Redis (one of their fixtures) it measures what changed with the probes of
`state_probes` and `redis_probe`, one connection per service for the whole session,
attached when the service starts (after migrations and seed), or opened while pytest
collects for a container the runner started ahead from a snapshot image (`expect`).
The "after" measure comes after the test's whole teardown, so `pg_transaction` has
rolled back and counts as clean. That measure ends the window there and then
(`end_window`: the queries go out) and is read at the next test's setup, before its
fixtures run, or when the services close (`_settle`): the round trips overlap pytest's
own work between tests.

Attribution, in time windows between measures:
- the test's own window, setup to end of teardown: its leftovers;
- threads the test started and left running are leftovers too, and anything that
  changes while one of them is still alive (between tests, or during a later test) is
  put on the test that started it, flagged `late`;
- a window between tests with no such thread goes to the previous test, also `late`.

Each finding becomes a `leftovers` record for the runner, which merges them into the
test's execution; a plain pytest run lists them in its terminal summary.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

from stability.containers import leftovers as lo
from stability.containers.service_fixtures import SERVICE_FIXTURES
from stability.runner.results_file import append_record

# A test used a service when it asked for one of their fixtures (pytest lists the closure).
_FIXTURES = frozenset().union(*SERVICE_FIXTURES.values())
_OWN_THREAD_PREFIXES = ("stability", "pytest_timeout")

watch_key = pytest.StashKey["LeftoverWatch"]()
Run = tuple[str, int]  # a test's node id and attempt (its runs in the process so far)


def register(config: pytest.Config) -> LeftoverWatch:
    watch = LeftoverWatch()
    config.stash[watch_key] = watch
    config.pluginmanager.register(watch, "stability-leftovers")
    return watch


def uses_services(item: pytest.Item) -> bool:
    return not _FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def _in_transaction(item: pytest.Item) -> bool:
    return "pg_transaction" in getattr(item, "fixturenames", ())


class LeftoverWatch:
    def __init__(self) -> None:
        self.probes: dict[str, Any] = {}
        self.problems: list[str] = []  # a probe that could not start: said once
        self.notes: list[str] = []  # how a probe measures, when it is the slower way
        self.found: dict[str, lo.Leftovers] = {}  # nodeid -> merged, for the summary
        self._threads_before: set[threading.Thread] = set()
        self._owners: dict[threading.Thread, Run] = {}  # thread left running -> its test
        self._owners_at_start: list[Run] = []  # tests whose threads lived at window start
        self._last_test: Run | None = None  # the test whose window the last measure closed
        self._attempts: dict[str, int] = {}  # runs of each test so far, as the recorder's
        self._gap = False  # a test without services ran since the last measure
        self._closed_for: str | None = None  # services stopped after this test's measure
        self._current: pytest.Item | None = None
        self.spent_s = 0.0  # the check's own time, all measures included
        self.tests = 0  # tests it measured
        self._sequences_behind = False  # the last measure did not read the sequences
        self._window_sequences = True  # the window ended last reads the sequences
        # A test's window ended, not read yet: (run, owners at its start, in pg_transaction,
        # threads it left)
        self._ended_test: tuple[Run, list[Run], bool, list[str]] | None = None
        # `expect`: a thread opening probes ahead, and what it opened (or why it could not)
        self._opener: threading.Thread | None = None
        self._early: dict[str, tuple[str, Any]] = {}  # name -> (url, probe or exception)

    # -- services ------------------------------------------------------------------

    def attach(self, name: str, url: str) -> None:
        """Start watching a service that just became ready: its state now is the baseline
        (or the probe `expect` opened for it, if it is the container expected)."""
        if name in self.probes:
            return
        early = self._take_early(name)
        if early is not None and early[0] == url:
            opened: Any = early[1]
        else:
            if early is not None and not isinstance(early[1], Exception):
                early[1].close()  # another container was adopted: this one is not used
            try:
                opened = _open_probe(name, url)
            except Exception as exc:
                opened = exc
        if isinstance(opened, Exception):  # a locked-down server: check the rest, say so once
            self.problems.append(f"{name}: {type(opened).__name__}: {str(opened).strip()[:200]}")
            return
        if name == "postgres" and opened.method != "logical decoding":
            self.notes.append(
                f"postgres by {opened.method} (a test that commits costs a count of every table)"
            )
        self.probes[name] = opened

    def expect(self, services: dict[str, tuple[str, str | None]]) -> None:
        """Services the runner started ahead (name -> (url, its snapshot image's baseline,
        encoded: `pg_baseline`)): their probes open now, in a thread, while pytest
        collects. Nothing but this process knows their addresses yet, so the image's
        baseline holds until a test first asks for one; the opening's round trips (3 or
        4 a service, 20-45 ms in a campaign on 2 cores) leave the first test's path.
        `attach` takes the probe when a fixture adopts that very container. (When the
        opening still read the catalog and counted the tables, a dozen round trips, such
        a thread slowed collection by more than it saved: the GIL changed hands at every
        answer.)"""
        if self._opener is not None:
            self._opener.join()

        def open_all() -> None:
            for name, (url, baseline) in services.items():
                try:
                    self._early[name] = (url, _open_probe(name, url, baseline))
                except Exception as exc:
                    self._early[name] = (url, exc)

        self._opener = threading.Thread(
            target=open_all, daemon=True, name="stability-leftovers-open"
        )
        self._opener.start()

    def _take_early(self, name: str) -> tuple[str, Any] | None:
        if self._opener is not None:
            self._opener.join()
        return self._early.pop(name, None)

    def pytest_unconfigure(self) -> None:
        """Close the probes opened ahead for services no test asked for."""
        if self._opener is not None:
            self._opener.join()
        for _, opened in self._early.values():
            if not isinstance(opened, Exception):
                with contextlib.suppress(Exception):
                    opened.close()
        self._early.clear()

    def services_closing(self) -> None:
        """The services stop (end of session, in the last test's teardown): measure that
        test, or what happened since the last measure, before they go."""
        self._settle()
        item = self._current
        if self.probes and item is not None and self._closed_for is None:
            if uses_services(item):
                self._finish_test(item)
                self._closed_for = item.nodeid
            else:
                self._between_tests()
        self._settle()
        for probe in self.probes.values():
            with contextlib.suppress(Exception):  # a connection already gone is closed
                probe.close()
        self.probes.clear()

    # -- tests ---------------------------------------------------------------------

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._attempts[nodeid] = self._attempts.get(nodeid, 0) + 1

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        self._settle()  # before the test does anything: its read waits for the window's end
        self._current = item
        if uses_services(item):
            self._threads_before = set(threading.enumerate())
            if self.probes and (self._gap or self._owners_at_start):
                # Separate what happened since the last test from this test's own window.
                self._between_tests()
            self._gap = False
        else:
            self._gap = True
        return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if uses_services(item) and self._closed_for != item.nodeid:
                self._finish_test(item, nextitem)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self._settle()  # services that outlived the session's teardown (not ours)
        if not self.tests:
            return
        write = terminalreporter.write_line
        if self.found or self.problems or self.notes:
            terminalreporter.section("tests that left state behind (stability leftovers)")
        for nodeid, found in self.found.items():
            write(f"{nodeid}: {lo.describe(found)}")
        for problem in self.problems:
            write(f"leftover check incomplete: {problem}")
        for note in self.notes:
            write(f"leftover check: {note}")
        write(
            f"stability leftovers: {len(self.found)} of {self.tests} tests left state behind; "
            f"the check took {self.spent_s * 1000:.0f} ms "
            f"({self.spent_s * 1000 / self.tests:.1f} ms per test)"
        )

    # -- windows -------------------------------------------------------------------

    def _measure(self, sequences: bool = True) -> lo.Leftovers:
        self._end_window(sequences)
        return self._read_window()

    def _end_window(self, sequences: bool = True) -> None:
        """End the window on every service now (their answers are read later)."""
        started = time.perf_counter()
        for name, probe in list(self.probes.items()):
            # only PostgreSQL has sequences to read or skip
            end = functools.partial(probe.end_window, sequences)
            self._guarded(name, end if name == "postgres" else probe.end_window)
        self._window_sequences = sequences
        self.spent_s += time.perf_counter() - started

    def _read_window(self) -> lo.Leftovers:
        """What each service's last window holds."""
        started = time.perf_counter()
        found: lo.Leftovers = {}
        for name, probe in list(self.probes.items()):
            changes = self._guarded(name, probe.measure)
            if changes:
                found[name] = changes
        sequences = self._window_sequences
        if sequences and self._sequences_behind:
            # the steps since the last reading include those of tests in pg_transaction
            # (when the next test was not the one pytest announced): whose is unknown
            _drop_sequences(found)
        self._sequences_behind = not sequences
        self.spent_s += time.perf_counter() - started
        return found

    def _guarded(self, name: str, call: Callable[[], Any]) -> Any:
        """`call()` on a probe; if its service went away, stop watching it (None)."""
        try:
            return call()
        except Exception as exc:
            self.problems.append(f"{name}: {type(exc).__name__}: {str(exc).strip()[:200]}")
            self.probes.pop(name, None)
            return None

    def _between_tests(self) -> None:
        owners = self._owners_at_start or ([self._last_test] if self._last_test else [])
        self._start_next_window()  # before measuring: a thread ending meanwhile still counts
        found = self._measure()
        if found:
            for owner in dict.fromkeys(owners):
                self._record(owner, {**found, "late": True})

    def _finish_test(self, item: pytest.Item, nextitem: pytest.Item | None = None) -> None:
        """End the test's window; what it holds is read and recorded by `_settle`, when
        pytest has reported the test (at the next test's setup, or when services close)."""
        self.tests += 1
        run = (item.nodeid, self._attempts.get(item.nodeid, 1))
        owners = self._owners_at_start
        # Threads first: one that writes while we measure is then still its test's.
        for thread in threading.enumerate():
            if (
                thread not in self._threads_before
                and thread.is_alive()
                and not thread.name.startswith(_OWN_THREAD_PREFIXES)
            ):
                self._owners[thread] = run
        started = sorted(t.name for t, owner in self._owners.items() if owner == run)
        self._start_next_window()
        in_transaction = _in_transaction(item)
        # Sequence steps in `pg_transaction` are thrown away (below): between two such
        # tests, with no thread left to own a later window, the sequences are not read.
        skip = in_transaction and nextitem is not None and _in_transaction(nextitem)
        self._end_window(sequences=not (skip and not self._owners))
        self._last_test = run
        self._ended_test = (run, owners, in_transaction, started)

    def _settle(self) -> None:
        """Read the window the last test's end left unread, and record what it held."""
        if self._ended_test is None:
            return
        (run, owners, in_transaction, started), self._ended_test = self._ended_test, None
        found = self._read_window()
        if in_transaction:
            # A rollback never resets a sequence, so a test in pg_transaction draws from
            # them as a matter of course: not a leftover (of it, or of anyone in its window).
            _drop_sequences(found)
        own: lo.Leftovers = {}
        if owners and found:  # a thread an earlier test left running was still alive
            for owner in dict.fromkeys(owners):
                self._record(owner, {**found, "late": True})
        elif found:
            own = found
            if "postgres" in own and in_transaction:
                own["bypassed_transaction"] = True
        if started:
            own["threads"] = started
        self._record(run, own)

    def _start_next_window(self) -> None:
        """The tests whose threads are alive as the next window starts own what it sees."""
        self._owners = {t: owner for t, owner in self._owners.items() if t.is_alive()}
        self._owners_at_start = list(dict.fromkeys(self._owners.values()))

    def _record(self, run: Run, found: lo.Leftovers) -> None:
        if lo.is_empty(found):
            return
        nodeid, attempt = run
        self.found[nodeid] = lo.merge(self.found.get(nodeid), found) or {}
        append_record("leftovers", {"nodeid": nodeid, "attempt": attempt, "leftovers": found})


def _drop_sequences(found: lo.Leftovers) -> None:
    pg = {k: v for k, v in (found.get("postgres") or {}).items() if k != "sequences"}
    if pg:
        found["postgres"] = pg
    else:
        found.pop("postgres", None)


def _open_probe(name: str, url: str, baseline: str | None = None) -> Any:
    if name == "postgres":
        from stability.containers import state_probes
        from stability.containers.pg_baseline import decode

        return state_probes.open_postgres_probe(url, decode(baseline))
    from stability.containers.redis_probe import RedisProbe

    return RedisProbe(url)
