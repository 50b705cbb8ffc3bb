"""One history, every reader: the run summary, report.json, Markdown, text, `show` and
`check` say the same about each test, and signatures split causes by where they failed.

A real campaign (pytest subprocesses, no containers) of tests that are stable, flaky,
broken, skipped, infra, environment-only, and both environment and really failing.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main

REPEAT = 3

SUITE = """
import os, socket
import pytest
from stability.exceptions import ServiceStartError

REP = int(os.environ["STABILITY_REPETITION"])
FREE_PORT = {free_port}  # on loopback, nobody listens there


def refused():
    socket.create_connection(("127.0.0.1", FREE_PORT), timeout=2).close()


def test_stable():
    assert True


def test_flaky():
    assert REP != 2


def test_broken():
    assert {{"total": 1}} == {{"total": 2}}


def test_also_broken_elsewhere():
    assert [1, 2] == [1, 3]


def test_skipped():
    pytest.skip("never runs")


def test_infra():
    if REP == 1:
        raise ServiceStartError("postgres container failed to start")


def test_network_only():
    if REP != 3:
        refused()


def test_name_resolution_only():
    # what resolving a name under .invalid raises when there is no network; raised here
    # so the test sends no DNS query off this machine
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_network_and_a_bug():
    if REP == 1:
        refused()
    assert REP != 2, "a real bug"
"""

SHARED_CAUSE = """
def total(items):
    return sum(items) + 1  # the bug three tests hit


def check_total(items):
    assert total(items) == sum(items)


def test_cause_one():
    check_total([1])


def test_cause_two():
    check_total([2, 3])


def test_cause_three():
    check_total([4, 5, 6])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = tmp_path_factory.mktemp("agreement")
    (project / "test_suite.py").write_text(SUITE.format(free_port=free_port()))
    (project / "test_shared_cause.py").write_text(SHARED_CAUSE)
    mp = pytest.MonkeyPatch()
    mp.chdir(project)
    mp.delenv("STABILITY_DB", raising=False)
    try:
        run = invoke(".", "--repeat", str(REPEAT), "--json", "-q", "--", "-p", "no:randomly")
        summary = json.loads(run.stdout)
        assert cli("report", "--format", "json").exit_code == 0
        out: dict[str, Any] = {
            "project": project,
            "run": run,
            "summary": summary,
            "report": json.loads((project / "reports" / "report.json").read_text()),
            "markdown": cli("report", "--format", "markdown").stdout,
            "text": cli("report", "--format", "text").stdout,
            "check": cli("check", "--json"),
            "check_text": cli("check"),
        }
        out["show"] = {
            t["nodeid"]: json.loads(cli("show", t["nodeid"], "--json").stdout)
            for t in out["report"]["tests"]
        }
    finally:
        mp.undo()
    return out


def by_test(campaign: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["nodeid"].split("::")[-1]: t for t in campaign["report"]["tests"]}


def test_each_test_gets_the_status_its_history_deserves(campaign: dict[str, Any]) -> None:
    statuses = {name: t["status"] for name, t in by_test(campaign).items()}
    assert statuses == {
        "test_stable": "stable",
        "test_flaky": "flaky",
        "test_broken": "broken",
        "test_also_broken_elsewhere": "broken",
        "test_skipped": "undecided",
        "test_infra": "stable",  # its infra run is left out, the other two passed
        "test_network_only": "stable",  # refused by a port that is not ours: environment
        "test_name_resolution_only": "environment",
        "test_network_and_a_bug": "flaky",  # fails otherwise too: its refusal counts
        "test_cause_one": "broken",
        "test_cause_two": "broken",
        "test_cause_three": "broken",
    }
    tests = by_test(campaign)
    assert (tests["test_network_only"]["environment"], tests["test_network_only"]["decided"]) == (
        2,
        1,
    )
    assert tests["test_name_resolution_only"]["environment"] == REPEAT
    assert (
        tests["test_network_and_a_bug"]["environment"],
        tests["test_network_and_a_bug"]["failed"],
    ) == (0, 2)
    assert tests["test_infra"]["infra"] == 1
    assert campaign["report"]["suite"]["environment_executions"] == 2 + REPEAT


def test_the_run_summary_agrees_with_the_report(campaign: dict[str, Any]) -> None:
    summary, tests = campaign["summary"], campaign["report"]["tests"]
    assert sorted(summary["flaky_tests"]) == sorted(
        t["nodeid"] for t in tests if t["status"] == "flaky"
    )
    assert sorted(summary["failing_tests"]) == sorted(
        t["nodeid"] for t in tests if t["status"] == "broken"
    )
    assert campaign["run"].exit_code == summary["exit_code"] == 1


def test_show_agrees_with_the_report(campaign: dict[str, Any]) -> None:
    keys = ("status", "verdict", "passed", "failed", "errors", "infra", "environment", "decided")
    for t in campaign["report"]["tests"]:
        shown = campaign["show"][t["nodeid"]]["test"]
        assert {k: shown[k] for k in keys} == {k: t[k] for k in keys}, t["nodeid"]
        assert shown["flake_rate"] == t["flake_rate"]


def test_markdown_and_text_carry_the_same_statuses(campaign: dict[str, Any]) -> None:
    for t in campaign["report"]["tests"]:
        if t["status"] in ("flaky", "broken"):
            row = next(ln for ln in campaign["markdown"].splitlines() if t["nodeid"] in ln)
            assert f"| {t['status']} |" in row
        text_row = next(ln for ln in campaign["text"].splitlines() if t["nodeid"] in ln)
        assert t["status"] in text_row or t["status"] == "environment"
    assert "Environment failures (counted apart)" in campaign["markdown"]
    assert "Environment failures (counted apart)" in campaign["text"]
    skipped = next(ln for ln in campaign["text"].splitlines() if "test_skipped" in ln)
    assert "undecided: never ran" in skipped and "+381" not in skipped


def test_check_judges_what_the_report_shows(campaign: dict[str, Any]) -> None:
    result = json.loads(campaign["check"].stdout)
    over = sorted(
        t["nodeid"] for t in campaign["report"]["tests"] if t["decided"] and t["flake_rate"] > 0.01
    )
    assert sorted(o["nodeid"] for o in result["offences"]) == over
    assert campaign["check"].exit_code == 1
    lines = campaign["check_text"].stdout.splitlines()
    broken = next(ln for ln in lines if "test_broken" in ln)
    assert broken.startswith("FAIL test_suite.py::test_broken: broken, flake rate 100% (3/3")
    assert "report verdict violates" in broken


def signatures(campaign: dict[str, Any], name: str) -> list[str]:
    return [s["signature"] for s in by_test(campaign)[name]["signatures"]]


def test_two_unrelated_equal_asserts_are_two_signatures(campaign: dict[str, Any]) -> None:
    [broken] = signatures(campaign, "test_broken")
    [elsewhere] = signatures(campaign, "test_also_broken_elsewhere")
    assert broken != elsewhere
    assert broken.startswith("AssertionError: assert")
    assert broken.endswith("@ test_suite.py:23 in test_broken")
    assert elsewhere.endswith("@ test_suite.py:27 in test_also_broken_elsewhere")


def test_one_cause_hit_by_three_tests_is_one_signature(campaign: dict[str, Any]) -> None:
    found = {s for n in ("one", "two", "three") for s in signatures(campaign, f"test_cause_{n}")}
    assert len(found) == 1
    assert found.pop().endswith("@ test_shared_cause.py:7 in check_total")
    common = campaign["report"]["tests"]
    assert sum(len(t["signatures"]) for t in common if "test_cause" in t["nodeid"]) == 3
    assert "| 9 | 3 |" in campaign["markdown"]  # 9 failures, 3 tests, one signature


def test_report_json_has_null_for_numbers_it_did_not_count(campaign: dict[str, Any]) -> None:
    [session] = campaign["report"]["scope"]["sessions"]
    assert session["repetitions"] is None and session["tests"] is None
    assert session["conditions"] == "pytest args: -p no:randomly"
    assert by_test(campaign)["test_skipped"]["runs_needed"] is None
