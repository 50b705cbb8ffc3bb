"""`stability report`, `sessions` and `show` through click, as a user calls them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from history_factory import XSS_ID, History, empty_history, report_history
from stability.cli import main


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_history(tmp_path_factory.mktemp("cli") / "history.duckdb")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def test_report_writes_index_html(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "nightly"
    result = invoke("report", "--db", str(db), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"{out / 'index.html'}: 3 violating, 3 unproven, 0 meeting the 1% flake-rate target"
    )
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")


def test_report_json(db: Path, tmp_path: Path) -> None:
    result = invoke("report", "--db", str(db), "--out", str(tmp_path), "--format", "json",
                    "--target", "0.2", "--label", "nightly")  # fmt: skip
    assert result.exit_code == 0
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["target"] == 0.2
    assert len(data["scope"]["sessions"]) == 2
    assert data["suite"]["repetitions"] == 30


def test_report_markdown_goes_to_stdout(db: Path, tmp_path: Path) -> None:
    result = invoke("report", "--db", str(db), "--format", "markdown", "--out", str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.startswith("## Test stability:")
    assert list(tmp_path.iterdir()) == []


def test_report_text(db: Path) -> None:
    result = invoke("report", "--db", str(db), "--format", "text")
    assert result.exit_code == 0
    assert "Tests (worst first)" in result.stdout
    assert XSS_ID in result.stdout


def test_db_from_the_environment(db: Path, tmp_path: Path) -> None:
    result = invoke("report", "--format", "markdown", env={"STABILITY_DB": str(db)})
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "soon"], "'--since': 'soon': write a duration like 7d"),
        (["--session", "2026110"], "matches several sessions"),
        (["--session", "20261101", "--label", "nightly"], "--session picks one session"),
        (["--label", "weekly"], "no session matches label 'weekly'"),
        (["--commit", "fff"], "no session matches commit fff"),
    ],
)
def test_scope_errors_are_one_line(db: Path, args: list[str], message: str) -> None:
    result = invoke("report", "--db", str(db), "--format", "json", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stability: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_report_on_an_empty_history(tmp_path: Path) -> None:
    with empty_history(tmp_path / "h.duckdb") as path:
        result = invoke("report", "--db", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "no sessions in" in result.stderr and "run `stability run` first" in result.stderr
    assert not (tmp_path / "out").exists()


def test_sessions(db: Path) -> None:
    result = invoke("sessions", "--db", str(db))
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if "2026110" in line]
    assert "20261102-020000-bbbb" in lines[0] and "20261101-020000-aaaa" in lines[1]


def test_sessions_json(db: Path) -> None:
    result = invoke("sessions", "--db", str(db), "--json", "--limit", "1")
    data = json.loads(result.stdout)
    assert [s["id"] for s in data] == ["20261102-020000-bbbb"]
    assert data[0]["repetitions"] == 20
    assert data[0]["label"] == "nightly"


def test_sessions_on_an_empty_history(tmp_path: Path) -> None:
    with empty_history(tmp_path / "h.duckdb") as path:
        assert json.loads(invoke("sessions", "--db", str(path), "--json").stdout) == []
        result = invoke("sessions", "--db", str(path))
    assert result.exit_code == 2
    assert "no sessions match" in result.stderr


def test_show_one_test(db: Path) -> None:
    result = invoke("show", "--db", str(db), "tests/test_orders.py::test_concurrent")
    assert result.exit_code == 0
    assert "13.3% flake rate (4/30 failed" in result.stdout
    assert "By session" in result.stdout and "Failed repetitions: 4" in result.stdout


def test_show_json(db: Path) -> None:
    result = invoke("show", "--db", str(db), "--json", "test_concurrent")
    data = json.loads(result.stdout)
    assert data["nodeid"] == "tests/test_orders.py::test_concurrent"
    assert data["test"]["failed"] == 4
    assert [s["test"]["failed"] for s in data["sessions"]] == [1, 3]
    assert [(f["session"], f["repetition"]) for f in data["failures"]] == [
        ("20261101-020000-aaaa", 6),
        ("20261102-020000-bbbb", 3),
        ("20261102-020000-bbbb", 8),
        ("20261102-020000-bbbb", 13),
    ]
    assert data["test"]["signatures"][0]["count"] == 4


def test_show_narrowed_to_a_session(db: Path) -> None:
    result = invoke("show", "--db", str(db), "--json", "--session", "20261101",
                    "test_concurrent")  # fmt: skip
    assert json.loads(result.stdout)["test"]["failed"] == 1


def test_show_ambiguous_or_unknown(db: Path) -> None:
    result = invoke("show", "--db", str(db), "test_orders")
    assert result.exit_code == 2
    assert "matches 4 tests" in result.stderr
    result = invoke("show", "--db", str(db), "test_nothing")
    assert result.exit_code == 2
    assert "no test 'test_nothing'" in result.stderr


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    for command in ("report", "check", "sessions", "show"):
        assert command in result.stdout


def test_a_session_without_executions_yet(tmp_path: Path) -> None:
    h = History(tmp_path / "h.duckdb")
    h.session("s-running", {})
    path = h.write()
    result = invoke("report", "--db", str(path), "--format", "json", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("stability: error: no test executions in the last session yet")


def test_unwritable_out_is_one_line(db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke("report", "--db", str(db), "--out", str(blocker / "sub"))
    assert result.exit_code == 2
    assert result.stderr.startswith("stability: error: cannot write the report into")
