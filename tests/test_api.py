"""`stability.History`: the history as pandas DataFrames, on a real DuckDB file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from history_factory import History as Factory
from history_factory import report_history
from stability import History
from stability.analysis.stats import wilson
from stability.cli import main
from stability.exceptions import StoreError

CONCURRENT = "tests/test_orders.py::test_concurrent"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_history(tmp_path_factory.mktemp("api") / "history.duckdb")


def test_tests_is_the_report_table(db: Path, tmp_path: Path) -> None:
    frame = History(db).tests()
    assert isinstance(frame, pd.DataFrame)
    row = frame.set_index("nodeid").loc[CONCURRENT]
    assert (row["passed"], row["failed"], row["decided"]) == (17, 3, 20)
    assert row["flake_rate"] == pytest.approx(0.15)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(3, 20))
    assert (row["verdict"], row["status"]) == ("violates", "flaky")
    assert row["top_signature"] == "AssertionError"

    # the same rows, in the same order, as the JSON report of the same scope
    out = CliRunner().invoke(
        main, ["report", "--db", str(db), "--format", "json", "--out", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    reported = json.loads((tmp_path / "report.json").read_text())["tests"]
    assert list(frame["nodeid"]) == [t["nodeid"] for t in reported]
    assert list(frame["verdict"]) == [t["verdict"] for t in reported]
    assert list(frame["ci_high"]) == pytest.approx([t["ci_high"] for t in reported], abs=1e-6)
    causes = [None if pd.isna(c) else c for c in frame["cause"]]
    assert causes == [t["cause"] for t in reported]
    assert row["cause"] == "non-order-dependent" and row["polluters"] == []


def test_scope_arguments_are_the_cli_ones(db: Path) -> None:
    h = History(db)
    every = h.tests(label="nightly")
    last = h.tests()
    first = h.tests(session="20261101")  # a unique prefix, as --session takes
    concurrent = {
        name: frame.set_index("nodeid").loc[CONCURRENT, "decided"]
        for name, frame in (("every", every), ("last", last), ("first", first))
    }
    assert concurrent == {"every": 30, "last": 20, "first": 10}
    assert h.tests(since="2026-11-02")["decided"].sum() == last["decided"].sum()
    # a stricter target changes verdicts, as --target does
    assert (h.tests(target=0.5)["verdict"] == "violates").sum() == 1  # only the broken test


def test_executions_one_row_each_with_timings(db: Path) -> None:
    frame = History(db).executions(label="nightly")
    assert len(frame) == 30 + 120  # 3 tests x 10, then 6 tests x 20
    assert {"nodeid", "outcome", "setup_s", "call_s", "teardown_s", "infra"} <= set(frame)
    assert frame["call_s"].dtype == "float64"
    one = History(db).executions(nodeid=CONCURRENT)
    assert len(one) == 20 and (one["outcome"] == "failed").sum() == 3
    assert list(one["repetition"]) == list(range(1, 21))


def test_sessions_newest_first_with_counts(db: Path) -> None:
    frame = History(db).sessions()
    assert list(frame["id"]) == ["20261102-020000-bbbb", "20261101-020000-aaaa"]
    assert list(frame["repetitions"]) == [20, 10]
    assert list(frame["tests"]) == [6, 3]
    assert str(frame["started_at"].dtype).startswith("datetime64")


def test_infra_executions_are_flagged(tmp_path: Path) -> None:
    h = Factory(tmp_path / "h.duckdb")
    h.session("s1", {"tests/t.py::test_a": "PIP"})
    frame = History(h.write()).executions()
    assert list(frame["infra"]) == [False, True, False]


def test_reading_leaves_the_file_as_it_was(db: Path) -> None:
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    h = History(db)
    h.tests(), h.executions(), h.sessions()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_missing_history_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no history at"):
        History(tmp_path / "nothing.duckdb")
    assert not (tmp_path / "nothing.duckdb").exists()


def test_importing_the_package_does_not_load_pandas() -> None:
    code = "import sys, stability; assert 'pandas' not in sys.modules; stability.History"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
