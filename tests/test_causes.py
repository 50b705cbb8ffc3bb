"""The cause rules, the runs test, delta debugging and the shuffle: pure logic."""

from __future__ import annotations

import random
from itertools import combinations, pairwise
from typing import Any

import pytest

from stability.analysis.causes import (
    Diagnosis,
    Evidence,
    chance_of_separation,
    find_cause,
    runs_test,
)
from stability.runner.diagnose import _probe_args, ddmin
from stability.runner.ordering import shuffled


def _runs(seq: str) -> int:
    return 1 + sum(a != b for a, b in pairwise(seq))


@pytest.mark.parametrize("n1, n2", [(1, 1), (2, 3), (4, 4), (5, 7), (3, 9)])
def test_runs_test_is_exact_against_enumeration(n1: int, n2: int) -> None:
    """Every arrangement of n1 F's and n2 P's, counted: P(runs <= r) for every r."""
    n = n1 + n2
    arrangements = []
    for fails in combinations(range(n), n1):
        arrangements.append("".join("F" if i in fails else "P" for i in range(n)))
    for seq in set(arrangements):
        r = _runs(seq)
        share = sum(_runs(a) <= r for a in arrangements) / len(arrangements)
        result = runs_test(seq)
        assert result is not None
        assert result.runs == r
        assert result.p_value == pytest.approx(share)


def test_runs_test_needs_both_outcomes() -> None:
    assert runs_test("PPPP") is None
    assert runs_test("") is None


def test_clustered_outcomes_have_a_small_p_and_alternating_a_large_one() -> None:
    clustered = runs_test("PPPPFFFFFFPPPPPP")
    alternating = runs_test("PPFPPFPPFPPFPPFP")
    assert clustered is not None and alternating is not None
    assert clustered.p_value < 0.01 < alternating.p_value


def test_separation_chance_is_a_bound_over_the_candidates() -> None:
    assert chance_of_separation(6, 6, 25) == pytest.approx(25 / 4096)
    assert chance_of_separation(1, 1, 25) == 1.0


def cause(**kw: Any) -> tuple[str | None, tuple[str, ...]]:
    found = find_cause(Evidence("t.py::v", **kw), flaky=True)
    assert found is not None
    return found.cause, found.polluters


def test_a_test_that_is_not_flaky_has_no_cause() -> None:
    assert find_cause(Evidence("t.py::ok", fixed_passed=10), flaky=False) is None


def test_diagnosed_polluters_make_it_order_dependent() -> None:
    d = Diagnosis("s", "t.py::v", "polluted", polluters=("t.py::p",), probes=7)
    assert cause(shuffled_passed=3, shuffled_failed=3, diagnosis=d) == (
        "order-dependent",
        ("t.py::p",),
    )


def test_first_runs_pass_later_runs_fail_is_self_polluting() -> None:
    assert cause(fixed_passed=4, later_failed=4, self_polluted=4)[0] == "self-polluting"
    # but a test whose first run fails too is not explained by its own state
    assert cause(fixed_passed=3, fixed_failed=1, self_polluted=3)[0] == "non-order-dependent"


def test_flaky_in_the_declared_order_is_non_order_dependent() -> None:
    assert cause(fixed_passed=8, fixed_failed=4, fixed_sequence="PPFPPFPPFPPF")[0] == (
        "non-order-dependent"
    )


def test_long_runs_in_the_declared_order_carry_over() -> None:
    found = find_cause(
        Evidence("t.py::v", fixed_passed=10, fixed_failed=6, fixed_sequence="PPPPFFFFFFPPPPPP"),
        flaky=True,
    )
    assert found is not None and found.cause == "carries-over"
    assert found.runs_p is not None and found.runs_p < 0.01


def test_a_change_of_order_is_not_mistaken_for_carrying_over() -> None:
    # always failed in the declared order, passed and failed shuffled: the order did it
    found = cause(
        fixed_failed=12,
        fixed_sequence="F" * 12,
        shuffled_passed=6,
        shuffled_failed=6,
        shuffled_sequence="PFFPFPPFPFFP",
    )
    assert found[0] == "order-dependent"


def test_a_separating_test_in_shuffled_orders_is_a_suspect() -> None:
    found = find_cause(
        Evidence(
            "t.py::v",
            shuffled_passed=7,
            shuffled_failed=5,
            suspects=("t.py::p",),
            candidates=25,
        ),
        flaky=True,
    )
    assert found is not None and found.cause == "order-dependent"
    assert found.suspects == ("t.py::p",) and found.polluters == ()


def test_too_few_shuffled_orders_to_rule_out_chance_is_unknown() -> None:
    found = find_cause(
        Evidence("t.py::v", shuffled_passed=3, shuffled_failed=3, suspects=("t.py::p",),
                 candidates=25),
        flaky=True,
    )  # fmt: skip
    assert found is not None and found.cause == "unknown"
    assert "declared order" in found.why


def test_a_victim_that_fails_alone_is_not_order_dependent() -> None:
    d = Diagnosis("s", "t.py::v", "fails-alone", probes=1)
    found = find_cause(Evidence("t.py::v", fixed_passed=5, fixed_failed=2, diagnosis=d), True)
    assert found is not None and found.cause == "non-order-dependent"
    assert "fails alone" in found.why


def test_passes_and_failures_split_by_way_of_running_is_unknown() -> None:
    found = find_cause(Evidence("t.py::v", fixed_passed=5, shuffled_failed=1), flaky=True)
    assert found is not None and found.cause == "unknown"


def test_ddmin_finds_the_one_polluter_among_many() -> None:
    tests = [f"t{i}" for i in range(24)]
    calls: list[list[str]] = []

    def fails(subset: list[str]) -> bool:
        calls.append(subset)
        return "t17" in subset

    assert ddmin(tests, fails) == ["t17"]
    assert len(calls) <= 12


def test_ddmin_finds_two_polluters_needed_together() -> None:
    tests = [f"t{i}" for i in range(16)]
    assert ddmin(tests, lambda s: "t3" in s and "t12" in s) == ["t3", "t12"]


def test_probe_arguments_drop_test_selection_and_keep_the_rest() -> None:
    args = _probe_args(["-k", "slow", "-n", "2", "-x", "-q", "--tb=short", "-mdb", "-p", "foo"])
    assert args == ["-p", "no:randomly", "-q", "--tb=short", "-p", "foo"]


def test_shuffle_is_reproducible_and_leaves_the_global_random_alone() -> None:
    items = list(range(30))
    random.seed(1234)
    expected_next = random.random()
    random.seed(1234)
    first = shuffled(items, 7)
    assert random.random() == expected_next  # the tests' own generator did not move
    assert shuffled(items, 7) == first
    assert shuffled(items, 8) != first
    assert sorted(first) == items


def test_runs_test_of_a_long_sequence_is_approximated_closely(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond EXACT_RUNS_TEST of the rarer outcome the normal approximation stands in for
    the exact sum: close to it in the tail that decides "carries-over"."""
    from stability.analysis import causes

    blocks = "".join("P" * (7 + i % 5) + "F" * (1 + i % 3) for i in range(120))
    exact = runs_test(blocks)
    monkeypatch.setattr(causes, "EXACT_RUNS_TEST", 10)
    approx = runs_test(blocks)
    assert exact is not None and approx is not None
    assert approx.runs == exact.runs and approx.expected == exact.expected
    assert approx.p_value != exact.p_value
    assert approx.p_value == pytest.approx(exact.p_value, abs=0.01)
