"""Orders, attempts and causes end to end: real pytest processes, a real DuckDB file.

One mixed suite runs three ways (declared order, shuffled, each test twice in a process),
under one label; the report must give each flaky test its cause, the controls none, and
`stability diagnose` must name exactly the polluter among 20+ innocent tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from runner_support import invoke
from stability.cli import main

PAIRS = """
import os, tempfile
from pathlib import Path

STATE = {}
MARKER = "stability-pair-marker"

# Each victim is declared before its polluter: in the declared order it always passes.

def test_victim_global():
    assert not STATE.get("dirty"), "a module global was left dirty"

def test_victim_env():
    assert os.environ.get("PAIR_FLAG") is None, "PAIR_FLAG was left set"

def test_victim_file():
    assert not (Path(tempfile.gettempdir()) / MARKER).exists(), "a temporary file was left"

def test_polluter_global():
    STATE["dirty"] = True

def test_polluter_env():
    os.environ["PAIR_FLAG"] = "1"

def test_polluter_file():
    (Path(tempfile.gettempdir()) / MARKER).write_text("left behind")
"""

OTHERS = """
import os
from pathlib import Path

REP = int(os.environ.get("STABILITY_REPETITION", "0"))
SEEN = []
COUNTER = Path(__file__).parent / ".carry-count"

def test_self_polluting():
    # fills a module-level cache and expects it empty: passes once per process
    assert not SEEN, "cache already filled by an earlier run in this process"
    SEEN.append(1)

def test_flaky_on_its_own():
    # one repetition in three fails, whatever the order: like a race or a timing budget
    assert REP % 3 != 1, f"unlucky repetition {REP}"

def test_carries_over():
    # a file outside the temporary directory survives repetitions: runs 5 to 10 fail
    count = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(count))
    assert not 5 <= count <= 10, f"run {count} saw a bad state"

def test_stable_control():
    assert 1 + 1 == 2
"""

INNOCENT = "\n".join(f"def test_innocent_{i}():\n    assert True\n" for i in range(1, 22))


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql, list(params)).fetchall()
    finally:
        conn.close()


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three campaigns and the diagnosis, run once for the module's tests."""
    root = tmp_path_factory.mktemp("mixed")
    (root / "test_pairs.py").write_text(PAIRS)
    (root / "test_others.py").write_text(OTHERS)
    (root / "test_innocent.py").write_text(INNOCENT)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("STABILITY_DB", raising=False)
        db = root / ".stability" / "history.duckdb"
        runs = {}
        for name, args in {
            "fixed": ["--repeat", "16"],  # one at a time: the carry-over counter counts in order
            "shuffled": ["--repeat", "12", "--seed", "1", "--jobs", "2"],
            "in_process": ["--repeat", "2", "--in-process", "2"],
        }.items():
            result = invoke(".", *args, "--label", "mix", "--json", "-q")
            assert result.exit_code == 1, result.output
            runs[name] = json.loads(result.stdout)
        # the three campaigns ran under different conditions on purpose: pool them all
        report = cli("report", "--label", "mix", "--pool-all", "--format", "json", "--out", "out")
        assert report.exit_code == 0, report.output
        before = json.loads((root / "out" / "report.json").read_text())
        shuffled = runs["shuffled"]["session"]
        diagnosed = cli("diagnose", "test_victim_global", "--session", shuffled, "--json")
        assert diagnosed.exit_code == 0, diagnosed.output
        after_report = cli(
            "report", "--label", "mix", "--pool-all", "--format", "json", "--out", "out2"
        )
        assert after_report.exit_code == 0, after_report.output
        after = json.loads((root / "out2" / "report.json").read_text())
        newest = cli("report", "--label", "mix", "--format", "json", "--out", "out3")
        assert newest.exit_code == 0, newest.output
        text = cli("report", "--session", shuffled, "--format", "text")
        markdown = cli("report", "--session", shuffled, "--format", "markdown")
        show = cli("show", "test_victim_global", "--session", shuffled, "--json")
        check = cli("check", "--session", shuffled, "--json")
    return {
        "root": root,
        "db": db,
        "runs": runs,
        "before": {t["nodeid"]: t for t in before["tests"]},
        "after": {t["nodeid"]: t for t in after["tests"]},
        "diagnosis": json.loads(diagnosed.stdout),
        "newest": json.loads((root / "out3" / "report.json").read_text()),
        "text": text.output,
        "markdown": markdown.output,
        "show": json.loads(show.stdout),
        "check": json.loads(check.stdout),
    }


def test_every_kind_gets_its_cause_and_controls_none(mixed: dict[str, Any]) -> None:
    causes = {n: t["cause"] for n, t in mixed["before"].items()}
    assert causes["test_pairs.py::test_victim_global"] == "order-dependent"
    assert causes["test_pairs.py::test_victim_env"] == "order-dependent"
    assert causes["test_pairs.py::test_victim_file"] == "order-dependent"
    assert causes["test_others.py::test_self_polluting"] == "self-polluting"
    assert causes["test_others.py::test_flaky_on_its_own"] == "non-order-dependent"
    assert causes["test_others.py::test_carries_over"] == "carries-over"
    flaky = {n for n, c in causes.items() if c is not None}
    assert len(flaky) == 6
    for nodeid, test in mixed["before"].items():
        if nodeid not in flaky:
            assert test["status"] != "flaky" and test["cause"] is None and test["polluters"] == []


def test_shuffled_orders_point_at_the_polluters(mixed: dict[str, Any]) -> None:
    for kind in ("global", "env", "file"):
        test = mixed["before"][f"test_pairs.py::test_victim_{kind}"]
        assert f"test_pairs.py::test_polluter_{kind}" in test["cause_detail"]["suspects"]
        assert test["polluters"] == []  # not diagnosed yet


def test_in_the_declared_order_the_victims_never_fail(mixed: dict[str, Any]) -> None:
    fixed = mixed["runs"]["fixed"]["session"]
    rows = query(
        mixed["db"],
        "SELECT DISTINCT outcome FROM executions WHERE session_id = ? AND nodeid LIKE '%victim%'",
        fixed,
    )
    assert rows == [("passed",)]


def test_positions_and_seeds_rebuild_each_order(mixed: dict[str, Any]) -> None:
    db = mixed["db"]
    shuffled = mixed["runs"]["shuffled"]["session"]
    seeds = query(db, "SELECT number, seed FROM repetitions WHERE session_id = ? ORDER BY 1",
                  shuffled)  # fmt: skip
    assert [s for _, s in seeds] == list(range(1, 13))  # --seed 1: repetition n has seed n
    fixed = mixed["runs"]["fixed"]["session"]
    assert query(db, "SELECT DISTINCT seed FROM repetitions WHERE session_id = ?", fixed) == [
        (None,)
    ]
    orders = query(
        db,
        "SELECT repetition, list(nodeid ORDER BY position) FROM executions "
        "WHERE session_id = ? GROUP BY 1 ORDER BY 1",
        shuffled,
    )
    assert len({tuple(o) for _, o in orders}) == 12  # twelve different orders
    from stability.runner.ordering import shuffled as reorder

    # the recorded order of repetition 3 is what seed 3 gives the declared order
    declared = query(
        db,
        "SELECT list(nodeid ORDER BY position) FROM executions WHERE session_id = ? "
        "AND repetition = 1",
        fixed,
    )[0][0]
    assert reorder(declared, 3) == orders[2][1]


def test_in_process_attempts_are_recorded_under_one_node_id(mixed: dict[str, Any]) -> None:
    session = mixed["runs"]["in_process"]["session"]
    rows = query(
        mixed["db"],
        "SELECT attempt, outcome FROM executions WHERE session_id = ? AND repetition = 1 "
        "AND nodeid = 'test_others.py::test_self_polluting' ORDER BY attempt",
        session,
    )
    assert rows == [(1, "passed"), (2, "failed")]
    ((count,),) = query(
        mixed["db"], "SELECT count(*) FROM executions WHERE session_id = ?", session
    )
    assert count == (6 + 4 + 21) * 2 * 2


def test_diagnose_names_exactly_the_polluter(mixed: dict[str, Any]) -> None:
    d = mixed["diagnosis"]
    assert d["verdict"] == "polluted"
    assert d["polluters"] == ["test_pairs.py::test_polluter_global"]
    assert d["failing_order"] == [
        "test_pairs.py::test_polluter_global",
        "test_pairs.py::test_victim_global",
    ]
    assert d["tests_before"] >= 2
    assert d["failing_command"] == (
        "pytest -p no:randomly test_pairs.py::test_polluter_global "
        "test_pairs.py::test_victim_global"
    )
    assert d["passing_command"] == "pytest -p no:randomly test_pairs.py::test_victim_global"
    assert d["probes"] <= 20
    probes = query(
        mixed["db"],
        "SELECT s.label, s.kind, count(r.number) FROM sessions s JOIN repetitions r "
        "ON r.session_id = s.id WHERE s.id = ? GROUP BY ALL",
        d["probe_session"],
    )
    assert probes == [("diagnose", "diagnose", d["probes"])]


def test_the_diagnosis_shows_in_every_report(mixed: dict[str, Any]) -> None:
    victim = mixed["after"]["test_pairs.py::test_victim_global"]
    assert victim["cause"] == "order-dependent"
    assert victim["polluters"] == ["test_pairs.py::test_polluter_global"]
    assert victim["cause_detail"]["diagnosis"]["failing_command"].endswith("test_victim_global")
    # the probes are not part of the campaign's numbers
    assert (
        victim["executions"] == mixed["before"]["test_pairs.py::test_victim_global"]["executions"]
    )
    assert "order-dependent (after test_pairs.py::test_polluter_global)" in mixed["text"]
    assert "| order-dependent | `test_pairs.py::test_polluter_global` |" in mixed["markdown"]
    assert mixed["show"]["test"]["polluters"] == ["test_pairs.py::test_polluter_global"]
    assert mixed["check"]["causes"]["test_pairs.py::test_victim_global"]["polluters"] == [
        "test_pairs.py::test_polluter_global"
    ]


def test_diagnose_says_when_a_victim_fails_alone(mixed: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(mixed["root"])
        fixed = mixed["runs"]["fixed"]["session"]
        result = cli("diagnose", "test_flaky_on_its_own", "--session", fixed, "--json", "-q")
    assert result.exit_code == 0, result.output
    # alone, it runs as the probe session's repetition 1: one of its unlucky ones
    data = json.loads(result.stdout)
    assert data["verdict"] == "fails-alone"
    assert data["polluters"] == [] and data["probes"] == 1


def test_diagnose_refuses_a_test_that_never_failed(mixed: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(mixed["root"])
        result = CliRunner().invoke(main, ["diagnose", "test_stable_control"])
    assert result.exit_code == 2
    assert result.stderr.startswith("stability: error: test_others.py::test_stable_control never")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "t.py", "--repeat", "2", "--seed", "abc"], "Invalid value for '--seed'"),
        (["run", "t.py", "--repeat", "2", "--seed", "-3"], "Invalid value for '--seed'"),
        (["run", "t.py", "--repeat", "2", "--seed", "4294967296"], "Invalid value for '--seed'"),
        (["run", "t.py", "--repeat", "2", "--in-process", "0"], "Invalid value for '--in-process'"),
        (["run", "t.py", "--repeat", "2", "--in-process", "x"], "Invalid value for '--in-process'"),
        (["diagnose", "t.py::nothing"], "no test 't.py::nothing'"),
        (["diagnose", "t.py::test_a", "--max-probes", "1"], "--max-probes"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project: Path, args: list[str], message: str) -> None:
    (project / "t.py").write_text("def test_a():\n    pass\n")
    if args[0] == "diagnose":
        assert invoke("t.py", "--repeat", "1", "-q").exit_code == 0
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_schema_1_history_is_upgraded_with_the_new_columns(tmp_path: Path) -> None:
    from stability.store.db import connect
    from stability.store.schema import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute(str(MIGRATIONS[0]))  # version 1 is SQL
    old.execute("INSERT INTO schema_info (version) VALUES (1)")
    old.execute(
        "INSERT INTO executions (session_id, repetition, nodeid, outcome) "
        "VALUES ('s', 1, 't.py::a', 'passed')"
    )
    old.close()
    with connect(path, write=True) as conn:  # a write upgrades; reads never write (issue 11)
        assert conn.execute("SELECT position, attempt FROM executions").fetchall() == [(None, 1)]
        assert conn.execute("SELECT count(*) FROM diagnoses").fetchall() == [(0,)]
        assert conn.execute("SELECT max(version) FROM schema_info").fetchall() == [
            (SCHEMA_VERSION,)
        ]


def test_without_pool_all_rates_pool_like_runs_and_causes_weigh_every_session(
    mixed: dict[str, Any],
) -> None:
    report = mixed["newest"]  # the in-process session's conditions differ from the others
    assert [s["id"] for s in report["scope"]["sessions"]] == [
        mixed["runs"]["in_process"]["session"]
    ]
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert tests["test_others.py::test_self_polluting"]["cause"] == "self-polluting"
    # flaky there (REP 1 fails) and flaky in the declared order left out of the rates
    assert tests["test_others.py::test_flaky_on_its_own"]["cause"] == "non-order-dependent"
    assert tests["test_pairs.py::test_victim_global"]["cause"] is None  # stable in-process
