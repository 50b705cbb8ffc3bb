"""The runner's own cost and fresh containers' cost (a benchmark, not a test): prints
figures beside issue 12's goals, asserts nothing.

(a) N repetitions of a trivial file without containers under `stability run` against a
    plain shell loop of `python -m pytest` on the same file (goal: at most 1.10x).
(b) A trivial PostgreSQL + Redis file under `stability run --jobs 1`: seconds a
    repetition over a bare `python -m pytest` process on the trivial file (goal: at most
    +0.4 s); and `--jobs 2` against `--jobs 1` (goal: at least 1.8x faster).
(c) What a test waited for `postgres_url` (migrations and seed included), median: inside
    the campaign (goal: under 0.2 s) and in a plain `pytest` run with a warm cache, the
    snapshot image already made (goal: under 1.0 s).

    python benchmarks/bench_runner.py [--repeat 20] [--container-repeat 20]
        [--rounds 3] [--container-rounds 3] [--plain-rounds 5] [--no-docker]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

TRIVIAL = "def test_one():\n    assert 1 + 1 == 2\n\ndef test_two():\n    assert 'a' in 'abc'\n"
BACKED = """
def test_postgres(pg_transaction):
    assert pg_transaction.execute("SELECT 1").fetchone() == (1,)

def test_redis(redis_client):
    assert redis_client.ping()
"""
# migrations and a seed, as a real project has: the snapshot makes them free
PYPROJECT = '[tool.stability]\nmigrations = "db"\nseed = "seeds:load"\n'
MIGRATION = "CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL);"
SEED = "def load(conn):\n    conn.execute(\"INSERT INTO products VALUES ('sku-1', 'Kettle')\")\n"
STABILITY = [sys.executable, "-c", "from stability.cli import main; main()"]


# The leftover check (issue 14) is on by default under `stability run`: (b) also gives a
# repetition without it, to show what it costs there.
_NO_LEFTOVER_CHECK = {"STABILITY_CHECK_LEFTOVERS": "false"}


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(
            f"benchmark command failed ({done.returncode}): {shlex.join(cmd)}\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return elapsed


def run(
    folder: Path, target: str, repeat: int, db: str, *extra: str, env: dict[str, str] | None = None
) -> float:
    args = ["run", target, "--repeat", str(repeat), "-q", "--db", str(folder / db), *extra]
    return timed([*STABILITY, *args], folder, {**os.environ, **(env or {})})


def bench_overhead(folder: Path, repeat: int, rounds: int) -> tuple[float, float, float]:
    """The plain loop, the runner and the runner without processes started ahead,
    alternating for `rounds` rounds (a slow moment of the machine falls on all): the
    medians."""
    (folder / "test_trivial.py").write_text(TRIVIAL)
    loop = (
        f"for i in $(seq {repeat}); do {shlex.quote(sys.executable)} -m pytest "
        "test_trivial.py -q >/dev/null || exit 1; done"
    )
    plain, runner, cold = [], [], []
    for i in range(rounds):
        plain.append(timed(["bash", "-c", loop], folder))
        runner.append(run(folder, "test_trivial.py", repeat, f"trivial{i}.duckdb"))
        cold.append(run(folder, "test_trivial.py", repeat, f"cold{i}.duckdb", "--no-prestart"))
    return statistics.median(plain), statistics.median(runner), statistics.median(cold)


def make_backed_project(folder: Path) -> None:
    (folder / "pyproject.toml").write_text(PYPROJECT)
    (folder / "db").mkdir(exist_ok=True)
    (folder / "db" / "001_products.sql").write_text(MIGRATION)
    (folder / "seeds.py").write_text(SEED)
    (folder / "test_backed.py").write_text(BACKED)


def postgres_waits(db: Path) -> list[float]:
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "SELECT wait_s FROM container_starts WHERE service = 'postgres' AND ok "
            "AND wait_s IS NOT NULL"
        ).fetchall()
    return [float(r[0]) for r in rows]


def plain_pytest_waits(folder: Path, rounds: int) -> list[float]:
    """Plain `pytest` runs (no runner); their own results files tell the waits."""
    from stability.runner.results_file import read_records

    waits = []
    for i in range(rounds):
        out = folder / f"plain-{i}"
        out.mkdir()
        env = {**os.environ, "STABILITY_RESULTS_DIR": str(out)}
        timed([sys.executable, "-m", "pytest", "test_backed.py", "-q"], folder, env)
        waits += [
            float(r["wait_s"])
            for r in read_records(out)
            if r["kind"] == "container_start" and r["service"] == "postgres" and r["wait_s"]
        ]
    return waits


def bench_backed(folder: Path, n: int, rounds: int) -> dict[str, float]:
    """Seconds a repetition of the PostgreSQL + Redis file, by configuration, and the
    comparisons, each the median over `rounds` rounds that run every configuration
    (a bare pytest process on the trivial file among them): a slow moment of the
    machine falls on one round's figures, not on one configuration's."""
    loop = (
        f"for i in $(seq {n}); do {shlex.quote(sys.executable)} -m pytest "
        "test_trivial.py -q >/dev/null || exit 1; done"
    )
    per_round: dict[str, list[float]] = {}
    for i in range(rounds):
        times = {
            "bare": timed(["bash", "-c", loop], folder),
            "jobs1": run(folder, "test_backed.py", n, f"jobs1-{i}.duckdb", "--jobs", "1"),
            "unchecked": run(
                folder, "test_backed.py", n, f"unchecked-{i}.duckdb", env=_NO_LEFTOVER_CHECK
            ),
            "jobs2": run(folder, "test_backed.py", n, f"jobs2-{i}.duckdb", "--jobs", "2"),
            "nopool": run(folder, "test_backed.py", n, f"nopool-{i}.duckdb", "--no-pool"),
            "cold": run(folder, "test_backed.py", n, f"cold-{i}.duckdb", "--no-prestart"),
        }
        round_figures = {name: seconds / n for name, seconds in times.items()}
        round_figures["over_bare"] = round_figures["jobs1"] - round_figures["bare"]
        round_figures["unchecked_over_bare"] = round_figures["unchecked"] - round_figures["bare"]
        round_figures["speedup"] = times["jobs1"] / times["jobs2"]
        for name, value in round_figures.items():
            per_round.setdefault(name, []).append(value)
    return {name: statistics.median(values) for name, values in per_round.items()}


def line(label: str, value: str, goal: str) -> None:
    print(f"    {label:46} {value:>16}   goal {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--container-repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds for (a)")
    parser.add_argument(
        "--container-rounds", type=int, default=1, help="alternating rounds for (b)"
    )
    parser.add_argument("--plain-rounds", type=int, default=5)
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("STABILITY_POSTGRES_IMAGE", "pytest-stability/postgres:15-bookworm")
    os.environ.setdefault("STABILITY_REDIS_IMAGE", "pytest-stability/redis:7-bookworm")
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cpus)")
    with tempfile.TemporaryDirectory(prefix="stability-bench-") as tmp:
        folder = Path(tmp)
        plain, runner, cold = bench_overhead(folder, args.repeat, args.rounds)
        bare = plain / args.repeat
        print(
            f"(a) {args.repeat} repetitions of a trivial file, no containers "
            f"(median of {args.rounds} alternating rounds)"
        )
        line("plain loop of python -m pytest, a repetition", f"{bare * 1000:.0f} ms", "")
        line("stability run, a repetition", f"{runner / args.repeat * 1000:.0f} ms", "")
        line("ratio", f"{runner / plain:.2f}x", "<= 1.10x")
        line("... with --no-prestart", f"{cold / plain:.2f}x", "<= 1.10x")
        if args.no_docker:
            return
        make_backed_project(folder)
        run(folder, "test_backed.py", 1, "warm.duckdb")  # the snapshot is made here, once
        n, rounds = args.container_repeat, args.container_rounds
        b = bench_backed(folder, n, rounds)
        print(
            f"(b) {n} repetitions of a PostgreSQL + Redis file (migrations and a seed), "
            f"median of {rounds} alternating round(s)"
        )
        for label, value, goal in (
            ("bare python -m pytest on the trivial file", f"{b['bare']:.2f} s", ""),
            ("--jobs 1, a repetition", f"{b['jobs1']:.2f} s", ""),
            ("--jobs 1 --no-pool, a repetition", f"{b['nopool']:.2f} s", ""),
            ("--jobs 1 --no-prestart, a repetition", f"{b['cold']:.2f} s", ""),
            ("over a bare pytest process", f"+{b['over_bare']:.2f} s", "<= +0.40 s"),
            ("--jobs 1 without the leftover check", f"{b['unchecked']:.2f} s", ""),
            ("... over a bare pytest process", f"+{b['unchecked_over_bare']:.2f} s", ""),
            ("--jobs 2, a repetition", f"{b['jobs2']:.2f} s", ""),
            ("--jobs 2 vs --jobs 1", f"{b['speedup']:.2f}x faster", ">= 1.8x"),
        ):
            line(label, value, goal)
        campaign = postgres_waits(folder / "jobs1-0.duckdb")
        plain_waits = plain_pytest_waits(folder, args.plain_rounds)
        print("(c) what a test waited for postgres_url, migrations and seed included (median)")
        line("in the campaign (--jobs 1)", f"{statistics.median(campaign):.3f} s", "< 0.2 s")
        line(
            f"plain pytest, warm cache ({len(plain_waits)} runs)",
            f"{statistics.median(plain_waits):.3f} s",
            "< 1.0 s",
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
