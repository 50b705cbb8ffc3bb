"""What the leftover check costs per test, with and without it, on real containers.

Two measurements, each on the example project (60,000-product catalogue) and on a
generated schema of 50 tables (1,000 rows each, 100 tests in pg_transaction, one in
five also with redis_client):

- probes (`leftover_probes.py`): the check's own work per test, timed directly: the
  measure after a clean test (a rolled-back write, a Redis write emptied by
  redis_client), and after a test that committed a row (the slow path, which decodes);
- campaign: the same pytest run, in fresh processes on fresh containers, with and
  without `--stability-leftovers`, alternating; per-test time is setup + call +
  teardown of every test but the one whose set-up started the containers;
- stability run (`--run-repeat R`): the issue's own figure, one `stability run --repeat
  R` whose repetitions alternate the check on (odd) and off (even), this module loaded
  as a plugin to switch it: each repetition on is compared with the mean of its two
  neighbours off, so the machine's drift (large here) cancels. Given: the median ratio
  of repetition walls, of the pytest processes' CPU, and how much longer the time before
  the first test and the tests' own time were. The runner's pool warms every server
  for the check either way (28-52 ms of its CPU, off the repetitions' path). Only for
  suites whose repetitions outlast a container start: on a file so short that the next
  containers are not ready in time, a repetition waits for them according to how long
  the one before it took, and the comparison is biased; there compare whole campaigns
  (`bench_runner.py`'s (b) does, with and without the check).

    python benchmarks/bench_leftovers.py --rounds 5 --run-repeat 60
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from stability.containers.images import POSTGRES_IMAGE, REDIS_IMAGE

os.environ.setdefault("STABILITY_POSTGRES_IMAGE", POSTGRES_IMAGE)
os.environ.setdefault("STABILITY_REDIS_IMAGE", REDIS_IMAGE)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "shop"
_OUT_ENV = "BENCH_LEFTOVERS_OUT"
_STABILITY = [sys.executable, "-c", "from stability.cli import main; main()"]


# -- loaded into the measured pytest runs with `-p bench_leftovers` ------------------

_ALTERNATE_ENV = "BENCH_LEFTOVERS_ALTERNATE"
if os.environ.get(_ALTERNATE_ENV):  # imported by pytest before our plugin reads it
    _repetition = int(os.environ.get("STABILITY_REPETITION") or 0)
    os.environ["STABILITY_CHECK_LEFTOVERS"] = "true" if _repetition % 2 else "false"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _write([report.nodeid, report.when, report.duration])


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get(_ALTERNATE_ENV):  # the repetition's own CPU
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _write(["(cpu)", os.environ.get("STABILITY_REPETITION"), usage.ru_utime + usage.ru_stime])


def pytest_sessionfinish(session: pytest.Session) -> None:
    from stability.containers.leftover_watch import watch_key

    watch = session.config.stash.get(watch_key, None)
    if watch is not None:  # the check's own time, measured inside it
        _write(["(check)", watch.tests, watch.spent_s])


def _write(row: list[Any]) -> None:
    out = os.environ.get(_OUT_ENV)
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


# -- the 50-table schema -------------------------------------------------------------


def make_wide_project(folder: Path, tables: int = 50, tests: int = 100) -> Path:
    (folder / "migrations").mkdir(parents=True)
    ddl = "\n".join(
        f"CREATE TABLE t{i:02d} (id bigserial PRIMARY KEY, name text NOT NULL, n int);\n"
        f"INSERT INTO t{i:02d} (name, n) SELECT 'row ' || g, g FROM generate_series(1, 1000) g;"
        for i in range(tables)
    )
    (folder / "migrations" / "001_wide.sql").write_text(ddl)
    (folder / "pyproject.toml").write_text('[tool.stability]\nmigrations = "migrations"\n')
    body = ["import pytest", ""]
    for i in range(tests):
        table = f"t{i % tables:02d}"
        redis = ", redis_client" if i % 5 == 0 else ""
        body += [
            f"def test_{i:03d}(pg_transaction{redis}):",
            f"    pg_transaction.execute(\"INSERT INTO {table} (name, n) VALUES ('x', {i})\")",
            f"    assert pg_transaction.execute('SELECT count(*) FROM {table}').fetchone()[0] > 0",
        ]
        if redis:
            body.append(f"    redis_client.set('k{i}', 'v')")
        body.append("")
    (folder / "test_wide.py").write_text("\n".join(body))
    return folder


# -- campaign ------------------------------------------------------------------------


def one_run(project: Path, tests: list[str], check: bool) -> tuple[float, dict[str, float], float]:
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as fh:
        out = Path(fh.name)
    env = {**os.environ, _OUT_ENV: str(out), "PYTHONPATH": str(Path(__file__).parent)}
    env.pop("STABILITY_RESULTS_DIR", None)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "bench_leftovers", "-p", "no:cacheprovider"]
    if check:
        argv.append("--stability-leftovers")
    started = time.perf_counter()
    subprocess.run([*argv, *tests], cwd=project, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    per_test: dict[str, float] = {}
    biggest_setup = ("", 0.0)
    check_s = 0.0
    for line in out.read_text().splitlines():
        nodeid, when, duration = json.loads(line)
        if nodeid == "(check)":
            check_s = duration
            continue
        per_test[nodeid] = per_test.get(nodeid, 0.0) + duration
        if when == "setup" and duration > biggest_setup[1]:
            biggest_setup = (nodeid, duration)
    out.unlink()
    per_test[biggest_setup[0]] -= biggest_setup[1]  # the containers' start-up
    return wall, per_test, check_s


def bench_campaign(project: Path, tests: list[str], rounds: int) -> dict[str, float]:
    """Medians over `rounds` runs per mode. The check's own time is measured inside it
    (every measure, the attach included); on a loaded machine the difference of two
    campaigns' times is mostly noise, so both are given."""
    walls: dict[bool, list[float]] = {True: [], False: []}
    sums: dict[bool, list[float]] = {True: [], False: []}
    checks: list[float] = []
    count = 0
    for _ in range(rounds):
        for check in (False, True):
            wall, per_test, check_s = one_run(project, tests, check)
            walls[check].append(wall)
            sums[check].append(sum(per_test.values()))
            if check:
                checks.append(check_s)
            count = len(per_test)
    check_s = statistics.median(checks)
    without, with_ = statistics.median(sums[False]), statistics.median(sums[True])
    return {
        "tests": count,
        "extra per test, ms (goal < 5)": (with_ - without) / count * 1000,
        "campaign ratio with/without (goal < 1.05)": with_ / without,
        "check's own time per test, ms": check_s / count * 1000,
        "check's own time / test time (same runs)": check_s / with_,
        "test time without, s": without,
        "test time with, s": with_,
        "process wall without, s": statistics.median(walls[False]),
        "process wall with, s": statistics.median(walls[True]),
    }


def bench_stability_run(project: Path, tests: list[str], repeat: int) -> dict[str, float]:
    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="bench-leftovers-run-"))
    db, out = folder / "history.duckdb", folder / "cpu.jsonl"
    env = {
        **os.environ,
        _ALTERNATE_ENV: "1",
        _OUT_ENV: str(out),
        "PYTHONPATH": str(Path(__file__).parent),
        "PYTEST_ADDOPTS": "-p bench_leftovers -p no:cacheprovider",
    }
    try:
        argv = [*_STABILITY, "run", *tests, "--repeat", str(repeat), "--db", str(db), "-q"]
        subprocess.run(argv, cwd=project, env=env, capture_output=True, check=False)
        with duckdb.connect(str(db), read_only=True) as conn:
            rows = conn.execute(_PER_REPETITION).fetchall()
        records = [json.loads(line) for line in out.read_text().splitlines()]
        cpu = {int(r[1]): float(r[2]) for r in records if r[0] == "(cpu)"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    wall = {r: w for r, w, _, _, _ in rows}
    before = {r: b for r, _, b, _, _ in rows}
    tests_s = {r: t for r, _, _, t, _ in rows}
    count = statistics.median(n for *_, n in rows)
    return {
        "repetition wall ratio on/off (goal < 1.05)": _median_ratio(wall),
        "pytest process CPU ratio on/off": _median_ratio(cpu),
        "before the first test, ms more": _median_difference(before) * 1000,
        "tests' own time, ms more per test": _median_difference(tests_s) * 1000 / count,
        "repetition wall off, s (median)": statistics.median(
            w for r, w in wall.items() if r >= 3 and not r % 2
        ),
    }


# Per repetition: its wall, the time before its first test, its tests' own time, and
# how many tests ran.
_PER_REPETITION = """
    SELECT r.number, r.wall_s, epoch(min(e.started_at)) - epoch(r.started_at),
           sum(e.setup_s + e.call_s + e.teardown_s), count(*)
    FROM repetitions r JOIN executions e ON e.repetition = r.number
    GROUP BY r.number, r.wall_s, r.started_at
"""


def _triples(values: dict[int, float]) -> list[tuple[float, float]]:
    """Each repetition on (odd, from the third: the first ones build and warm) with the
    mean of its two neighbours off."""
    return [
        (values[r], (values[r - 1] + values[r + 1]) / 2)
        for r in sorted(values)
        if r >= 3 and r % 2 and r - 1 in values and r + 1 in values
    ]


def _median_ratio(values: dict[int, float]) -> float:
    return statistics.median(on / off for on, off in _triples(values))


def _median_difference(values: dict[int, float]) -> float:
    return statistics.median(on - off for on, off in _triples(values))


def main() -> None:
    import leftover_probes  # beside this file; not loaded into the measured runs

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="campaign runs per mode")
    parser.add_argument("--probe-rounds", type=int, default=200)
    parser.add_argument(
        "--run-repeat", type=int, default=0, help="stability run repetitions, on and off"
    )
    args = parser.parse_args()
    print(
        f"postgres image {os.environ['STABILITY_POSTGRES_IMAGE']}, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    wide = make_wide_project(Path(tempfile.mkdtemp(prefix="bench-leftovers-")))
    try:
        cases = [
            ("example project (60,000 products)", EXAMPLE, "products", ["tests"]),
            ("50 tables x 1,000 rows, 100 tests", wide, "t07", ["test_wide.py"]),
        ]
        for label, project, table, tests in cases:
            print(f"\n{label}")
            for name, value in leftover_probes.bench_probes(
                project, table, args.probe_rounds
            ).items():
                print(f"  probe   {name:40} {value:8.2f} ms (median)", flush=True)
            for name, value in bench_campaign(project, tests, args.rounds).items():
                print(f"  campaign {name:39} {value:8.3f}", flush=True)
            if args.run_repeat:
                figures = bench_stability_run(project, tests, args.run_repeat)
                for name, value in figures.items():
                    print(f"  run      {name:42} {value:8.3f}", flush=True)
    finally:
        shutil.rmtree(wide, ignore_errors=True)
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
