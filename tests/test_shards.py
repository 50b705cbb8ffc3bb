"""Sharding a campaign and merging the shards: real `stability` processes and DuckDB files."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from stability.runner.shards import Shard, check_session_id, parse_shard

STABILITY = [sys.executable, "-c", "from stability.cli import main; main()"]

# Outcomes depend only on the repetition number, so a sharded and an unsharded campaign
# of the same numbers must give the same report. One test uses a real Redis container.
CAMPAIGN = """
import os, pytest

REP = int(os.environ["STABILITY_REPETITION"])

def test_stable():
    pass

def test_flaky_by_number():
    assert REP % 4 not in (1, 2), f"unlucky repetition {REP}"

def test_rarely_fails():
    assert REP != 7, "seventh"

def test_broken():
    raise RuntimeError("always")

@pytest.mark.skip(reason="never")
def test_skipped():
    pass

def test_cache(redis_client):
    redis_client.set("rep", REP)
    assert redis_client.get("rep") == str(REP)
"""


def stability(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STABILITY, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(("repeat", "count"), [(1, 1), (8, 4), (10, 3), (7, 7), (100, 6)])
def test_every_repetition_runs_in_exactly_one_shard(repeat: int, count: int) -> None:
    shares = [Shard(i, count).numbers(repeat) for i in range(1, count + 1)]
    every = sorted(n for share in shares for n in share)
    assert every == list(range(1, repeat + 1))
    # a shard's share is fixed by (i, n, N) alone: the same in any start order
    assert [Shard(i, count).numbers(repeat) for i in reversed(range(1, count + 1))] == list(
        reversed(shares)
    )


def test_shard_and_session_id_parsing() -> None:
    assert parse_shard("2/4") == Shard(2, 4) and str(parse_shard(" 3 / 3 ")) == "3/3"
    for bad in ("0/4", "5/4", "2", "a/b", "1/0", "-1/2"):
        with pytest.raises(ValueError, match=r"I/N|between 1 and N"):
            parse_shard(bad)
    assert check_session_id("12345678-1") == "12345678-1"
    for bad in ("", "has space", "../etc", "x" * 101, "-leading"):
        with pytest.raises(ValueError, match="letters, digits"):
            check_session_id(bad)


def _normalised(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what differs between two runs of the same repetitions: ids,
    clock times, durations and hosts."""

    def clean(value: Any) -> Any:
        # every duration (`..._s`) differs from run to run, and so does how many
        # containers the runner's pool started ahead
        if isinstance(value, dict):
            return {
                k: clean(v)
                for k, v in value.items()
                if not k.endswith("_s")
                and k
                not in {
                    "generated_at",
                    "started_at",
                    "finished_at",
                    "host",
                    "over_target",
                    "pooled",
                }
            }
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str) and value.startswith(("shard-", "2026", "2027")):
            return "<session>"
        return value

    report = dict(report)
    report["scope"] = {"sessions": clean(report["scope"]["sessions"])}
    report["trend"] = clean(report["trend"])
    return clean(report)  # type: ignore[no-any-return]


@pytest.mark.docker
@pytest.mark.slow
def test_four_shards_merged_in_any_order_report_like_one_run(tmp_path: Path) -> None:
    (tmp_path / "test_campaign.py").write_text(CAMPAIGN)
    common = ["run", "test_campaign.py", "--repeat", "8", "--label", "nightly", "-q"]
    shards = [
        subprocess.Popen(
            [*STABILITY, *common, "--shard", f"{i}/4", "--session-id", "shard-run-42",
             "--db", f"shard{i}.duckdb"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in (1, 2, 3, 4)
    ]  # fmt: skip
    whole = stability(*common, "--jobs", "2", "--db", "one.duckdb", cwd=tmp_path)
    for proc in shards:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err  # test_broken fails: exit 1, and nothing else
    assert whole.returncode == 1, whole.stderr

    for i in (1, 2, 3, 4):
        shard_rows = rows(tmp_path / f"shard{i}.duckdb", "SELECT number, shard FROM repetitions")
        assert sorted(shard_rows) == [(n, f"{i}/4") for n in (i, i + 4)]

    order = [f"shard{i}.duckdb" for i in (1, 2, 3, 4)]
    seed = random.randrange(1 << 30)
    random.Random(seed).shuffle(order)
    first, rest = order[:2], order[2:]
    for batch in (first, rest):  # two merges, as two nights' jobs might
        merged = stability("merge", *batch, "--into", "merged.duckdb", "--json", cwd=tmp_path)
        assert merged.returncode == 0, f"order {order} (seed {seed}): {merged.stderr}"
    assert rows(tmp_path / "merged.duckdb", "SELECT id, repeat, status FROM sessions") == [
        ("shard-run-42", 8, "completed")
    ]
    reps = rows(tmp_path / "merged.duckdb", "SELECT number FROM repetitions ORDER BY 1")
    assert [r[0] for r in reps] == list(range(1, 9))

    reports = {}
    for name in ("one", "merged"):
        out = stability(
            "report", "--db", f"{name}.duckdb", "--format", "json", "--out", name, cwd=tmp_path
        )
        assert out.returncode == 0, out.stderr
        reports[name] = json.loads((tmp_path / name / "report.json").read_text())
    one, merged_report = (_normalised(reports[n]) for n in ("one", "merged"))
    where = f"shards merged in order {order} (seed {seed})"
    for a, b in zip(one["tests"], merged_report["tests"], strict=True):
        differing = {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
        assert not differing, f"{a['nodeid']}: {differing}; {where}"
    assert merged_report == one, where
    by_test = {t["nodeid"]: t for t in reports["merged"]["tests"]}
    assert by_test["test_campaign.py::test_flaky_by_number"]["failed"] == 4
    assert by_test["test_campaign.py::test_rarely_fails"]["failed"] == 1
    assert by_test["test_campaign.py::test_broken"]["status"] == "broken"
    assert by_test["test_campaign.py::test_cache"]["passed"] == 8
    assert reports["merged"]["suite"]["containers"][0]["starts"] == 8

    # merging a shard again adds nothing
    again = stability("merge", order[0], "--into", "merged.duckdb", "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["repetitions_added"] == 0
    assert rows(tmp_path / "merged.duckdb", "SELECT count(*) FROM executions") == [(48,)]


def _run(*args: str) -> Any:
    from runner_support import invoke

    return invoke(*args)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shard", "2/4"], "--shard needs --session-id ID"),
        (["--shard", "5/4", "--session-id", "x"], "'--shard': '5/4': I must be between 1 and N"),
        (["--shard", "3/3", "--session-id", "x", "--repeat", "2"], "gets no repetition"),
        (["--session-id", "has space"], "'--session-id': 'has space'"),
    ],
)
def test_bad_shard_options_are_one_line(project: Path, args: list[str], says: str) -> None:
    (project / "test_a.py").write_text("def test_a():\n    pass\n")
    repeat = [] if "--repeat" in args else ["--repeat", "4"]
    result = _run("test_a.py", *repeat, *args)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert says in line
    assert not (project / ".stability" / "history.duckdb").exists()


def test_a_shard_runs_its_share_and_resumes_as_that_shard(project: Path) -> None:
    (project / "test_a.py").write_text("def test_a():\n    pass\n")
    first = _run("test_a.py", "--repeat", "5", "--shard", "2/2", "--session-id", "ci-7", "-q")
    assert first.exit_code == 0, first.output
    db = project / ".stability" / "history.duckdb"
    assert rows(db, "SELECT number, shard FROM repetitions ORDER BY 1") == [(2, "2/2"), (4, "2/2")]
    again = _run("test_a.py", "--repeat", "5", "--session-id", "ci-7", "-q")
    assert again.exit_code == 2 and "session ci-7 already exists" in again.stderr
    # a resume with a higher N carries on as the same shard: 6 is shard 2's, 5 is not
    more = _run("--resume", "ci-7", "--repeat", "6", "-q")
    assert more.exit_code == 0, more.output
    assert [n for (n,) in rows(db, "SELECT number FROM repetitions ORDER BY 1")] == [2, 4, 6]
    other = _run("--resume", "ci-7", "--shard", "1/2", "-q")
    assert other.exit_code == 2 and "ran as shard 2/2, not --shard 1/2" in other.stderr
