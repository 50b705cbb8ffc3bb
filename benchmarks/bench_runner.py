"""The runner's own cost (a benchmark, not a test): prints figures, asserts nothing.

(a) N repetitions of a trivial test file under `stability run` against a plain shell loop
    of `python -m pytest` on the same file: the ratio is what recording, ingesting into
    DuckDB and bookkeeping add per repetition.
(b) A container-backed file (PostgreSQL + Redis per repetition) with `--jobs 2` against
    `--jobs 1`: how much running repetitions side by side saves.

    python benchmarks/bench_runner.py [--repeat 20] [--container-repeat 6] [--no-docker]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIVIAL = "def test_one():\n    assert 1 + 1 == 2\n\ndef test_two():\n    assert 'a' in 'abc'\n"
BACKED = """
def test_postgres(pg_transaction):
    assert pg_transaction.execute("SELECT 1").fetchone() == (1,)

def test_redis(redis_client):
    assert redis_client.ping()
"""
STABILITY = [sys.executable, "-c", "from stability.cli import main; main()"]


def timed(cmd: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(
            f"benchmark command failed ({done.returncode}): {shlex.join(cmd)}\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return elapsed


def bench_overhead(folder: Path, repeat: int) -> tuple[float, float]:
    (folder / "test_trivial.py").write_text(TRIVIAL)
    loop = (
        f"for i in $(seq {repeat}); do {shlex.quote(sys.executable)} -m pytest "
        "test_trivial.py -q >/dev/null || exit 1; done"
    )
    plain = timed(["bash", "-c", loop], folder)
    runner = timed(
        [
            *STABILITY,
            "run",
            "test_trivial.py",
            "--repeat",
            str(repeat),
            "-q",
            "--db",
            str(folder / "bench.duckdb"),
        ],
        folder,
    )
    return plain, runner


def bench_jobs(folder: Path, repeat: int) -> dict[int, float]:
    (folder / "test_backed.py").write_text(BACKED)
    times = {}
    for jobs in (1, 2):
        times[jobs] = timed(
            [
                *STABILITY,
                "run",
                "test_backed.py",
                "--repeat",
                str(repeat),
                "--jobs",
                str(jobs),
                "-q",
                "--db",
                str(folder / f"jobs{jobs}.duckdb"),
            ],
            folder,
        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--container-repeat", type=int, default=6)
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("STABILITY_POSTGRES_IMAGE", "pytest-stability/postgres:15-bookworm")
    os.environ.setdefault("STABILITY_REDIS_IMAGE", "pytest-stability/redis:7-bookworm")
    with tempfile.TemporaryDirectory(prefix="stability-bench-") as tmp:
        folder = Path(tmp)
        plain, runner = bench_overhead(folder, args.repeat)
        print(f"(a) {args.repeat} repetitions of a trivial file ({os.cpu_count()} cpus)")
        print(
            f"    plain loop of python -m pytest: {plain:7.2f} s  "
            f"({plain / args.repeat * 1000:.0f} ms a repetition)"
        )
        print(
            f"    stability run:                  {runner:7.2f} s  "
            f"({runner / args.repeat * 1000:.0f} ms a repetition)"
        )
        print(
            f"    ratio: {runner / plain:.2f}x  "
            f"(+{(runner - plain) / args.repeat * 1000:.0f} ms a repetition)"
        )
        if args.no_docker:
            return
        times = bench_jobs(folder, args.container_repeat)
        print(f"(b) {args.container_repeat} repetitions of a PostgreSQL + Redis file")
        for jobs, elapsed in times.items():
            print(
                f"    --jobs {jobs}: {elapsed:7.2f} s  "
                f"({elapsed / args.container_repeat:.2f} s a repetition)"
            )
        print(f"    --jobs 2 vs --jobs 1: {times[1] / times[2]:.2f}x faster")


if __name__ == "__main__":
    main()
