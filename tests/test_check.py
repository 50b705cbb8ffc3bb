"""`stability check`: the gate's rule, and its exit codes through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from history_factory import History, empty_history
from stability.analysis.check import check_tests
from stability.analysis.models import TestCounts
from stability.analysis.per_test import analyse_test
from stability.cli import main


def stats(nodeid: str, passed: int, failed: int, p95: float | None = 0.1) -> object:
    return analyse_test(TestCounts(nodeid, passed + failed, passed, failed, p95_s=p95))


def test_point_estimate_by_default() -> None:
    tests = [stats("t::clean", 100, 0), stats("t::one", 99, 1), stats("t::two", 98, 2)]
    result = check_tests(tests, max_flake_rate=0.01)  # type: ignore[arg-type]
    assert [o.nodeid for o in result.offences] == ["t::two"]  # 1% is within a 1% budget
    assert result.checked == 3
    assert not result.ok
    assert result.offences[0].line == (
        "t::two: flaky, flake rate 2% (2/100 failed) over the 1% budget (rule: point "
        "estimate); report verdict unproven, 95% interval 0.55% – 7%"
    )


def test_strict_needs_the_upper_bound_under_the_budget() -> None:
    tests = [stats("t::few", 100, 0), stats("t::many", 1000, 0)]
    result = check_tests(tests, max_flake_rate=0.01, strict=True)  # type: ignore[arg-type]
    assert [o.nodeid for o in result.offences] == ["t::few"]  # 0/100: upper bound 3.7%
    assert result.offences[0].line == (
        "t::few: stable, 95% upper bound 3.7% (0/100 failed) not under the 1% budget "
        "(rule: --strict, 95% upper bound); report verdict unproven, 95% interval 0% – 3.7%"
    )


def test_a_broken_test_is_called_broken() -> None:
    [offence] = check_tests([stats("t::b", 0, 5)], max_flake_rate=0.01).offences  # type: ignore[list-item]
    assert offence.line.startswith("t::b: broken, flake rate 100% (5/5 failed) over the 1%")
    assert "report verdict violates" in offence.line


def test_max_p95() -> None:
    tests = [stats("t::fast", 10, 0, 0.5), stats("t::slow", 10, 0, 2.5), stats("t::n", 0, 0, None)]
    result = check_tests(tests, max_flake_rate=0.5, max_p95_s=1.0)  # type: ignore[arg-type]
    assert [(o.nodeid, o.reason) for o in result.offences] == [("t::slow", "p95")]


def test_undecided_tests_are_not_judged() -> None:
    result = check_tests([stats("t::skip", 0, 0)], max_flake_rate=0.01, strict=True)  # type: ignore[list-item]
    assert result.ok and result.checked == 0


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = History(tmp_path_factory.mktemp("c") / "history.duckdb")
    h.session("s1", {"t.py::ok": "P" * 100, "t.py::flaky": "P" * 97 + "FFF"},
              durations={"t.py::ok": [0.1, 3.0]})  # fmt: skip
    h.session("s2", {"t.py::ok": "P" * 50, "t.py::flaky": "P" * 50}, label="good")
    return h.write()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_exit_1_with_one_line_per_offender(db: Path) -> None:
    code, out, _ = run("--db", str(db), "--session", "s1", "--max-flake-rate", "1%")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("FAIL t.py::flaky: flaky, flake rate 3% (3/100 failed) over the 1%")
    assert lines[0].endswith("report verdict violates, 95% interval 1.03% – 8.45%")
    assert lines[-1].startswith("stability check: 1 test over budget")
    assert len(lines) == 2


def test_exit_0_within_budget(db: Path) -> None:
    code, out, _ = run("--db", str(db), "--session", "s1", "--max-flake-rate", "0.05")
    assert code == 0
    assert out.startswith("stability check: ok (2 tests judged")


def test_default_scope_is_the_last_session(db: Path) -> None:
    assert run("--db", str(db))[0] == 0  # s2 is clean
    assert run("--db", str(db), "--strict")[0] == 1  # but 50 clean runs prove little


def test_max_p95_gates(db: Path) -> None:
    code, out, _ = run("--db", str(db), "--session", "s1", "--max-flake-rate", "5%",
                       "--max-p95", "1")  # fmt: skip
    assert code == 1
    assert "FAIL t.py::ok: slow, call p95 3 s over 1 s (rule: --max-p95)" in out


def test_json(db: Path) -> None:
    code, out, _ = run("--db", str(db), "--session", "s1", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    # its three failures came together at the end of 100 runs: state carried over
    assert data["offences"] == [
        {
            "nodeid": "t.py::flaky",
            "reason": "flake-rate",
            "value": 0.03,
            "limit": 0.01,
            "cause": "carries-over",
            "polluters": [],
        }
    ]
    assert data["causes"]["t.py::flaky"]["cause"] == "carries-over"
    assert "t.py::ok" not in data["causes"]


@pytest.mark.parametrize("bad", ["abc", "0", "150%"])
def test_bad_rate_is_a_usage_error(db: Path, bad: str) -> None:
    code, _, err = run("--db", str(db), "--max-flake-rate", bad)
    assert code == 2
    assert "--max-flake-rate" in err


def test_empty_history_is_a_clear_error(tmp_path: Path) -> None:
    with empty_history(tmp_path / "h.duckdb") as path:
        code, out, err = run("--db", str(path))
    assert code == 2
    assert out == ""
    assert err.strip() == (
        f"stability: error: no sessions in {path} yet: run `stability run` first"
    )


def test_missing_history_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("--db", str(tmp_path / "nope.duckdb"))
    assert code == 2
    assert err.startswith("stability: error: no history at")
