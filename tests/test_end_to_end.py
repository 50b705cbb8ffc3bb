"""The main job end to end: `stability run` on the bundled example project (real
containers, real pytest processes, a real DuckDB file), then `report` and `check`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLE = Path(__file__).parent.parent / "examples" / "shop"
STABILITY = [sys.executable, "-c", "from stability.cli import main; main()"]


def stability(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STABILITY, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_campaign_on_the_example_project_then_report_and_check(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    db = tmp_path / "history.duckdb"
    tests_in_example = sum(
        line.startswith("def test_")
        for path in (project / "tests").glob("test_*.py")
        for line in path.read_text().splitlines()
    )

    run = stability(
        "run", "tests", "--repeat", "2", "--jobs", "2", "--db", str(db), "--json", cwd=project
    )
    # 0 or 1: the example has flaky tests on purpose; 2 or 3 would be a real problem.
    assert run.returncode in (0, 1), run.stderr
    summary = json.loads(run.stdout)
    assert summary["repetitions_done"] == 2
    assert summary["executions"] == 2 * tests_in_example
    assert summary["tests"] == tests_in_example

    out = tmp_path / "reports"
    html = stability("report", "--db", str(db), "--out", str(out), cwd=tmp_path)
    assert html.returncode == 0, html.stderr
    assert (out / "index.html").stat().st_size > 100_000  # plotly.js is inline

    as_json = stability(
        "report", "--db", str(db), "--out", str(out), "--format", "json", cwd=tmp_path
    )
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["suite"]["repetitions"] == 2
    assert len(report["tests"]) == tests_in_example
    for test in report["tests"]:
        assert test["executions"] == 2
        assert test["passed"] + test["failed"] + test["errors"] + test["skipped"] == 2
    # every repetition started both services, once each (xdist is not on here)
    containers = {c["service"]: c for c in report["suite"]["containers"]}
    assert sorted(containers) == ["postgres", "redis"]
    assert all(c["starts"] == 2 and c["failed"] == 0 for c in containers.values())
    assert all(0 < c["p50_s"] < 30 for c in containers.values())
    # The e-mail test's background thread commits a row after the test, and the old-shop
    # import commits customers: the example's two polluters (the rest use pg_transaction
    # and redis_client and leave nothing).
    polluters = {t["nodeid"]: t["leftovers"] for t in report["tests"] if t["leftovers"]}
    email = "tests/test_orders.py::test_order_confirmation_is_sent"
    old_shop = "tests/test_customers.py::test_import_from_the_old_shop"
    assert set(polluters) == {email, old_shop}
    assert polluters[email]["executions"] == 2
    assert "public.customers +2 inserted" in polluters[old_shop]["description"]
    assert "public.sent_emails +1 inserted" in polluters[email]["description"]

    lenient = stability("check", "--db", str(db), "--max-flake-rate", "60%", cwd=tmp_path)
    over = [t["nodeid"] for t in report["tests"] if (t["flake_rate"] or 0) > 0.6]
    assert lenient.returncode == (1 if over else 0), lenient.stdout + lenient.stderr
    for nodeid in over:
        assert nodeid in lenient.stdout
    strict = stability("check", "--db", str(db), "--max-flake-rate", "1%", "--strict", cwd=tmp_path)
    # Two runs can never prove a rate under 1%: the strict gate must refuse.
    assert strict.returncode == 1
    assert strict.stdout.count("\n") >= tests_in_example
