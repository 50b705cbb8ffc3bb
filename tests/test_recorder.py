"""The recorder plugin, in real pytest subprocesses (plain and under xdist)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stability.runner.results_file import (
    MAX_MESSAGE,
    MAX_OUTPUT,
    MAX_TRACEBACK,
    bounded,
    read_records,
)

OUTCOMES_FILE = """
import pytest

def test_passes():
    pass

def test_fails():
    print("to stdout before failing")
    raise ValueError("boom 42")

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_setup_error(broken):
    pass

@pytest.fixture
def bad_teardown():
    yield
    raise OSError("teardown broke")

def test_teardown_error(bad_teardown):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known")
def test_xfailed():
    assert False

@pytest.mark.xfail(reason="known", strict=False)
def test_xpassed():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_xpassed_strict():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1
"""

EXPECTED = {
    "test_outcomes.py::test_passes": ("passed", None),
    "test_outcomes.py::test_fails": ("failed", "call"),
    "test_outcomes.py::test_setup_error": ("error", "setup"),
    "test_outcomes.py::test_teardown_error": ("error", "teardown"),
    "test_outcomes.py::test_skipped": ("skipped", None),
    "test_outcomes.py::test_xfailed": ("xfailed", None),
    "test_outcomes.py::test_xpassed": ("xpassed", None),
    "test_outcomes.py::test_xpassed_strict": ("failed", "call"),
    "test_outcomes.py::test_param[1]": ("passed", None),
    "test_outcomes.py::test_param[2]": ("failed", "call"),
}


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    monkeypatch.setenv("STABILITY_RESULTS_DIR", str(folder))
    return folder


def _by_kind(folder: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in read_records(folder):
        found.setdefault(record["kind"], []).append(record)
    return found


def _check_outcomes(records: dict[str, list[dict[str, Any]]]) -> None:
    executions = {e["nodeid"]: e for e in records["execution"]}
    assert len(records["execution"]) == len(EXPECTED)  # each test once
    assert {n: (e["outcome"], e["phase"]) for n, e in executions.items()} == EXPECTED
    fails = executions["test_outcomes.py::test_fails"]
    assert fails["error_type"] == "ValueError"
    assert fails["message"] == "ValueError: boom 42"
    assert "raise ValueError" in fails["traceback"]
    assert "to stdout before failing" in fails["captured_output"]
    assert fails["captured_output"].count("to stdout before failing") == 1
    assert fails["call_s"] >= 0 and fails["setup_s"] >= 0 and fails["teardown_s"] >= 0
    assert fails["started_at"] and fails["file"] == "test_outcomes.py"
    assert executions["test_outcomes.py::test_setup_error"]["error_type"] == "RuntimeError"
    assert executions["test_outcomes.py::test_teardown_error"]["error_type"] == "OSError"
    assert executions["test_outcomes.py::test_param[2]"]["error_type"] == "AssertionError"
    passed = executions["test_outcomes.py::test_passes"]
    assert passed["message"] is None and passed["captured_output"] is None
    assert {s["nodeid"] for s in records["test_start"]} == set(EXPECTED)
    assert len(records["session_start"]) == 1
    assert records["session_finish"][0]["exitstatus"] == 1


def test_records_every_outcome(pytester: pytest.Pytester, results: Path) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES_FILE)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3, failed=3, errors=2, skipped=1, xfailed=1, xpassed=1)
    _check_outcomes(_by_kind(results))


def test_under_xdist_each_execution_is_recorded_once(
    pytester: pytest.Pytester, results: Path
) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES_FILE)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=3, failed=3, errors=2, skipped=1, xfailed=1, xpassed=1)
    records = _by_kind(results)
    _check_outcomes(records)
    assert records["session_start"][0]["xdist"] == 2
    # the controller wrote the executions; the workers wrote none
    writers = {p.name for p in results.glob("records-*.jsonl")}
    assert len(writers) == 1


def test_collection_error_is_an_error_execution(pytester: pytest.Pytester, results: Path) -> None:
    pytester.makepyfile(test_broken="import no_such_module_here\n\ndef test_x():\n    pass\n")
    pytester.runpytest_subprocess()
    records = _by_kind(results)
    (execution,) = records["execution"]
    assert execution["outcome"] == "error" and execution["phase"] == "collect"
    assert execution["nodeid"] == "test_broken.py"
    assert "no_such_module_here" in execution["message"]


def test_infrastructure_errors_are_flagged(pytester: pytest.Pytester, results: Path) -> None:
    pytester.makepyfile(
        """
        import pytest
        from stability.exceptions import StartupTimeout

        @pytest.fixture
        def service():
            try:
                raise StartupTimeout("postgres did not answer within 1 s")
            except StartupTimeout as exc:
                pytest.fail(f"stability: {exc}", pytrace=False)

        def test_needs_service(service):
            pass

        def test_plain_failure():
            raise KeyError("k")
        """
    )
    pytester.runpytest_subprocess()
    executions = {e["nodeid"].split("::")[1]: e for e in _by_kind(results)["execution"]}
    assert executions["test_needs_service"]["infra"] is True
    assert executions["test_needs_service"]["message"] == (
        "Failed: stability: postgres did not answer within 1 s"
    )
    assert executions["test_plain_failure"]["infra"] is False


def test_long_texts_are_bounded(pytester: pytest.Pytester, results: Path) -> None:
    pytester.makepyfile(
        """
        def test_noisy():
            print("x" * 20000 + "THE END")
            raise AssertionError("m" * 5000)
        """
    )
    pytester.runpytest_subprocess()
    (execution,) = _by_kind(results)["execution"]
    assert len(execution["message"]) <= MAX_MESSAGE
    assert len(execution["traceback"]) <= MAX_TRACEBACK
    assert len(execution["captured_output"]) <= MAX_OUTPUT
    assert execution["captured_output"].rstrip().endswith("THE END")  # the tail is kept


def test_off_without_the_runner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STABILITY_RESULTS_DIR", raising=False)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("records-*.jsonl"))


def test_bounded() -> None:
    assert bounded(None, 10) is None
    assert bounded("short", 10) == "short"
    head = bounded("a" * 50 + "b" * 50, 40)
    tail = bounded("a" * 50 + "b" * 50, 40, tail=True)
    assert head is not None and tail is not None
    assert len(head) == 40 and head.startswith("aaa")
    assert len(tail) == 40 and tail.endswith("bbb")
