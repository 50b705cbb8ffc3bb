"""The ordering part of the plugin in a real pytest process: shuffle, in-process runs."""

from __future__ import annotations

import re

import pytest

from stability.runner.ordering import shuffled

TESTS = "\n".join(f"def test_{i:02d}():\n    pass\n" for i in range(12))
SELF_POLLUTING = """
SEEN = []

def test_once_per_process():
    assert not SEEN
    SEEN.append(1)
"""


def _order(result: pytest.RunResult) -> list[str]:
    return re.findall(r"::(test_\d+) PASSED", result.stdout.str())


def test_seed_gives_the_order_shuffled_gives(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_many=TESTS)
    declared = [f"test_{i:02d}" for i in range(12)]
    result = pytester.runpytest_subprocess("-v", "-p", "no:randomly", "--stability-seed", "3")
    result.assert_outcomes(passed=12)
    assert _order(result) == shuffled(declared, 3)
    assert "stability: shuffled order, seed 3" in result.stdout.str()
    again = pytester.runpytest_subprocess("-v", "--stability-seed", "3")
    assert _order(again) == _order(result)


def test_shuffle_comes_after_deselection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_many=TESTS)
    result = pytester.runpytest_subprocess("-v", "--stability-seed", "5", "-k", "not test_00")
    result.assert_outcomes(passed=11, deselected=1)
    kept = [f"test_{i:02d}" for i in range(1, 12)]
    assert _order(result) == shuffled(kept, 5)


def test_in_process_runs_each_test_k_times(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_self=SELF_POLLUTING)
    result = pytester.runpytest_subprocess("--stability-in-process", "3")
    result.assert_outcomes(passed=1, failed=2)


def test_the_runners_settings_do_not_reach_a_pytest_started_by_a_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_many=TESTS)
    monkeypatch.setenv("STABILITY_SHUFFLE_SEED", "3")
    monkeypatch.setenv("STABILITY_IN_PROCESS", "2")
    monkeypatch.setenv("STABILITY_RUNNER_PID", "1")  # a runner that is not our parent
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=12)
    assert _order(result) == [f"test_{i:02d}" for i in range(12)]


FIXTURES = """
import pytest

EVENTS = []

@pytest.fixture(scope="module")
def shared():
    EVENTS.append("module-setup")
    yield
    EVENTS.append("module-teardown")

@pytest.fixture
def fresh(shared):
    EVENTS.append("setup")
    yield object()
    EVENTS.append("teardown")

def test_uses_fixtures(fresh):
    EVENTS.append("run")

def test_after():
    # three runs, each with its own function fixture; the module fixture set up once
    assert EVENTS == ["module-setup"] + ["setup", "run", "teardown"] * 3
"""


def test_in_process_gives_each_run_fresh_function_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fixtures=FIXTURES)
    result = pytester.runpytest_subprocess("--stability-in-process", "3", "-p", "no:randomly")
    # test_after checks the order of set-ups and teardowns (each of its runs)
    result.assert_outcomes(passed=6)
    assert "KeyError" not in result.stdout.str()
