"""Counting rules per test and for the suite, on rows made by hand (no database)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from stability.analysis.aggregate import count_signatures, count_tests, signature_of
from stability.analysis.models import ContainerStart, ExecutionRow, RepetitionRow, TestCounts
from stability.analysis.per_test import analyse_test, analyse_tests, is_slowdown
from stability.analysis.rules import status_of
from stability.analysis.suite import container_startup, suite_signatures, suite_stats
from stability.records import Outcome

LETTER: dict[str, Outcome] = {"P": "passed", "F": "failed", "E": "error", "T": "timeout",
                              "C": "crashed", "S": "skipped", "X": "xfailed",
                              "x": "xpassed"}  # fmt: skip


def rows(history: str, nodeid: str = "t.py::a", *, session: str = "s1",
         commit: str | None = "c1", calls: Sequence[float] | None = None,
         infra: str = "") -> list[ExecutionRow]:  # fmt: skip
    """One row per letter; `I` is an infra execution; lowercase `i` in `infra` marks reps."""
    out = []
    for i, letter in enumerate(history):
        out.append(
            ExecutionRow(
                session_id=session,
                repetition=i + 1,
                nodeid=nodeid,
                outcome="error" if letter == "I" else LETTER[letter],
                infra=letter == "I",
                commit=commit,
                call_s=calls[i] if calls else 0.1,
                setup_s=0.01,
                teardown_s=0.02,
                error_type="AssertionError" if letter in "FE" else None,
                message=f"AssertionError: boom {i}" if letter in "FE" else None,
                failure_signature="AssertionError: boom <n>" if letter in "FE" else None,
            )
        )
    return out


def one(history: str, **kwargs: object) -> TestCounts:
    [counts] = count_tests(rows(history, **kwargs))  # type: ignore[arg-type]
    return counts


def test_counts_each_outcome() -> None:
    c = one("PPFETCSXxI")
    assert (c.executions, c.passed, c.failed, c.errors, c.timeouts) == (10, 2, 3, 1, 1)
    assert (c.skipped, c.xfailed, c.xpassed, c.infra) == (1, 1, 1, 1)
    assert c.decided == 6  # passed + failed (incl. timeout and crashed) + errors
    assert c.failures == 4


def test_flake_rate_leaves_infra_and_undecided_out() -> None:
    stats = analyse_test(one("PPPF" + "I" * 10 + "SSXx"))
    assert stats.flake_rate == pytest.approx(1 / 4)
    assert stats.counts.decided == 4


def test_timeout_counts_as_a_failure() -> None:
    stats = analyse_test(one("PPPT"))
    assert stats.flake_rate == 0.25
    assert stats.status == "flaky"


def test_zero_of_a_hundred_reads_zero_but_is_unproven() -> None:
    stats = analyse_test(one("P" * 100))
    assert stats.flake_rate == 0.0
    assert stats.verdict == "unproven"
    assert stats.ci_high == pytest.approx(0.0370, abs=1e-4)
    assert stats.runs_needed == 281
    assert stats.status == "stable"


def test_violating_test_has_no_runs_to_settle() -> None:
    stats = analyse_test(one("PPPPPPPPPF" * 10))
    assert stats.flake_rate == pytest.approx(0.1)
    assert stats.verdict == "violates"
    assert stats.runs_needed is None


def test_target_is_respected() -> None:
    counts = one("P" * 99 + "F")
    assert analyse_test(counts, target=0.01).verdict == "unproven"
    assert analyse_test(counts, target=0.1).verdict == "meets"
    assert analyse_test(counts, target=0.001).verdict == "violates"


@pytest.mark.parametrize(
    ("history", "status"),
    [("PPPP", "stable"), ("PFPP", "flaky"), ("FFFF", "broken"), ("FEFT", "broken"),
     ("SSXI", "undecided"), ("", "undecided")],
)  # fmt: skip
def test_status(history: str, status: str) -> None:
    counts = one(history) if history else TestCounts("t")
    assert status_of(counts) == status


def test_flip_rate_counts_changes_between_consecutive_decided_runs() -> None:
    # P P F F P : flips at 2->3 and 4->5 = 2 over 4 gaps; skipped and infra runs are ignored
    stats = analyse_test(one("PPSFIFP"))
    assert stats.counts.flips == 2
    assert stats.flip_rate == pytest.approx(2 / 4)
    assert analyse_test(one("P")).flip_rate is None
    assert analyse_test(one("PFPFPF")).flip_rate == 1.0
    assert analyse_test(one("PPPFFF")).flip_rate == pytest.approx(1 / 5)


def test_flaky_on_one_commit_or_across_commits() -> None:
    same = rows("PF", commit="c1")
    assert count_tests(same)[0].mixed_on_one_commit
    across = rows("PP", commit="c1") + rows("FF", session="s2", commit="c2")
    counts = count_tests(across)[0]
    assert not counts.mixed_on_one_commit
    assert status_of(counts) == "flaky"  # still flaky; the reports say "across commits"


def test_sessions_without_a_commit_are_their_own_group() -> None:
    across = rows("PP", commit=None) + rows("FF", session="s2", commit=None)
    assert not count_tests(across)[0].mixed_on_one_commit


def test_durations_use_the_call_phase_of_non_infra_non_skipped_runs() -> None:
    calls = [0.1, 0.2, 0.3, 0.4, 9.0, 9.0]
    c = one("PPFPIS", calls=calls)
    assert c.p50_s == pytest.approx(0.25)
    assert c.p95_s == pytest.approx(0.385)
    assert c.max_s == 0.4
    # total: setup + call + teardown of every non-infra run (the skipped one included)
    assert c.total_s == pytest.approx(sum(calls[:4]) + 9.0 + 5 * 0.03)


def test_slow_is_p95_over_the_threshold() -> None:
    c = one("PPPP", calls=[0.5, 0.5, 0.5, 2.0])
    assert analyse_test(c, slow_threshold_s=1.0).slow
    assert not analyse_test(c, slow_threshold_s=2.0).slow


@pytest.mark.parametrize(
    ("now", "before", "flag"),
    [(0.3, 0.1, True), (0.16, 0.1, False), (1.0, 0.7, False), (1.1, 0.7, True),
     (None, 0.1, False), (0.3, None, False)],
)  # fmt: skip
def test_slowdown_needs_half_again_and_a_tenth_of_a_second(
    now: float | None, before: float | None, flag: bool
) -> None:
    assert is_slowdown(now, before) is flag


def test_signatures_group_failures_with_first_and_last_repetition() -> None:
    data = rows("PFPFE")
    data[4] = ExecutionRow("s1", 5, "t.py::a", "timeout", failure_signature=None)
    sigs = count_signatures(data)
    assert [(s.signature, s.count, s.first_repetition, s.last_repetition) for s in sigs] == [
        ("AssertionError: boom <n>", 2, 2, 4),
        ("timeout", 1, 5, 5),
    ]
    assert sigs[0].example == "AssertionError: boom 1"


def test_signature_falls_back_to_error_type_then_outcome() -> None:
    assert signature_of(ExecutionRow("s", 1, "t", "failed", error_type="KeyError")) == "KeyError"
    assert signature_of(ExecutionRow("s", 1, "t", "failed", failure_signature="  ")) == "failed"


def test_infra_failures_are_no_signature() -> None:
    assert count_signatures(rows("II")) == []


def test_tests_are_ordered_worst_first() -> None:
    counts = count_tests(
        rows("P" * 50, "t::clean") + rows("PF" * 25, "t::bad") + rows("P" * 49 + "F", "t::meh")
        + rows("SS", "t::skip")
    )  # fmt: skip
    assert [t.nodeid for t in analyse_tests(counts)] == ["t::bad", "t::meh", "t::clean", "t::skip"]


def test_suite_counts_red_repetitions_and_leaves_infra_out() -> None:
    tests = analyse_tests(count_tests(rows("PFPP") + rows("PPPP", "t::b")))
    reps = [
        RepetitionRow("s1", 1, "passed"),
        RepetitionRow("s1", 2, "failed", failing_executions=1),
        RepetitionRow("s1", 3, "crashed"),  # red even with no failing execution stored
        RepetitionRow("s1", 4, "infra", failing_executions=2),
        RepetitionRow("s1", 5, "passed"),
    ]
    suite = suite_stats(tests, reps)
    assert (suite.repetitions, suite.infra_repetitions, suite.failed_repetitions) == (5, 1, 2)
    assert suite.failed_repetition_rate == pytest.approx(2 / 4)
    assert suite.verdicts == {"violates": 1, "unproven": 1, "meets": 0}  # 1/4 is proven > 1%
    assert suite.statuses == {
        "broken": 0,
        "flaky": 1,
        "stable": 1,
        "environment": 0,
        "undecided": 0,
    }


def test_container_startup_per_service() -> None:
    starts = [
        ContainerStart("s", i, "postgres", float(i), float(i) + 1, True) for i in range(1, 21)
    ]
    starts += [ContainerStart("s", 21, "postgres", None, None, False, "did not start")]
    starts += [ContainerStart("s", 1, "redis", 31.0, 31.5, True)]
    pg, redis = container_startup(starts, target_s=19.5)
    assert (pg.service, pg.starts, pg.failed, pg.over_target) == ("postgres", 21, 1, 1)
    assert pg.p50_s == pytest.approx(10.5)
    assert pg.p95_s == pytest.approx(19.05)
    assert pg.max_s == 20.0
    assert (redis.p50_s, redis.over_target) == (31.0, 1)


def test_suite_signatures_sum_over_tests() -> None:
    tests = analyse_tests(
        count_tests(rows("FF", "t::a") + rows("F", "t::b")),
        signatures=count_signatures(rows("FF", "t::a") + rows("F", "t::b")),
    )
    [(signature, count, affected, example)] = suite_signatures(tests)
    assert (signature, count, affected) == ("AssertionError: boom <n>", 3, 2)
    assert example.startswith("AssertionError")
