"""The plugin's threads and pytest's: pytest walks logging's loggers without its lock (a
thread creating loggers meanwhile must not crash the session), and a daemon thread of ours
must not be cut off at exit in the middle of an import."""

from __future__ import annotations

from pathlib import Path

import pytest

THREAD = """
import logging, sys, threading, time

STOP = threading.Event()
MAKER = []

def _make_loggers():
    for i in range(20000):  # a big dict of loggers: each walk over it takes a while
        logging.getLogger(f"made.early.{i}")
    i = 0
    while not STOP.is_set():
        logging.getLogger(f"made.by.a.thread.{i}")
        i += 1
        time.sleep(0.0005)

def pytest_configure(config):
    sys.setswitchinterval(1e-4)  # the thread gets the GIL in the middle of pytest's walks
    MAKER.append(threading.Thread(target=_make_loggers, daemon=True))
    MAKER[0].start()

def pytest_unconfigure(config):
    STOP.set()  # a daemon thread stopped at exit inside logging's lock would hang the exit
    MAKER[0].join()
"""


def test_a_thread_creating_loggers_does_not_crash_the_session(pytester: pytest.Pytester) -> None:
    # Without the guard, sessions here crashed at their start or tests errored in their
    # setup ("dictionary changed size during iteration"): 5 runs of 5 here.
    pytester.makeconftest(THREAD)
    tests = "\n".join(f"def test_{i}():\n    time.sleep(0.005)\n" for i in range(60))
    pytester.makepyfile(test_many="import time\n" + tests)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "dictionary changed size" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=60)


def test_the_guard_is_put_on_once() -> None:
    from _pytest.logging import catching_logs

    from stability.logging_guard import guard_pytest_logger_walk

    guard_pytest_logger_walk()
    guarded = catching_logs.__dict__["__enter__"]
    guard_pytest_logger_walk()
    assert catching_logs.__dict__["__enter__"] is guarded
    assert getattr(guarded, "__stability_guard__", False)


_THREADS_CONFTEST = """
import atexit, threading

started = []
_start = threading.Thread.start

def _recording_start(self):
    started.append(self.name)
    _start(self)

threading.Thread.start = _recording_start

@atexit.register
def _report():
    alive = [t.name for t in threading.enumerate() if t.name == "stability-preload"]
    print("PRELOADS STARTED:", [n for n in started if n == "stability-preload"])
    print("PRELOADS ALIVE AT EXIT:", alive)
"""


def test_background_imports_are_over_before_the_process_exits(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """A daemon thread stopped at exit in the middle of an import can hold a lock the
    interpreter's exit then waits for: the plugin waits for its preloads instead (a
    repetition handed containers imports their drivers while pytest collects)."""
    from stability.containers.handoff import Handoff

    handed = Handoff("redis", "0" * 64, "img", "127.0.0.1", 1, 0.1, "t", "k", "redis://x")
    pytester.makeconftest(_THREADS_CONFTEST)
    pytester.makepyfile(test_one="def test_one(redis_client):\n    pass\n")
    env = {**handed.env(), "STABILITY_RESULTS_DIR": str(tmp_path)}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        result = pytester.runpytest_subprocess("--collect-only", "-q", "-s")
    result.stdout.fnmatch_lines(
        ["PRELOADS STARTED: ['stability-preload']", "PRELOADS ALIVE AT EXIT: []"]
    )


def test_a_plain_run_imports_no_container_sdk_it_may_not_need(pytester: pytest.Pytester) -> None:
    """A project that names migrations runs its unit tests with plain pytest too: they
    must not wait for docker and testcontainers to load (0.4 s a run, measured)."""
    pytester.makepyprojecttoml('[tool.stability]\nmigrations = "migrations"\n')
    pytester.mkdir("migrations")
    pytester.makeconftest(_THREADS_CONFTEST)
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-s")
    result.stdout.fnmatch_lines(["PRELOADS STARTED: []"])
    result.assert_outcomes(passed=1)
