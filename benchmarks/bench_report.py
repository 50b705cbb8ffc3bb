"""`stability report` (every format) and `check` over a large history: wall time and peak
memory, beside the goals of issue 12 (under 5 s and under 1 GiB at 50,000,000 executions).

Generates the history once (benchmarks/make_history.py; 20 sessions x 100 repetitions x
500 tests = 1,000,000 executions by default), then runs each command a few times in a
fresh process, as a user would, and reports the median wall time and the largest peak
resident memory (GNU time's %M, else ru_maxrss of the child).

    python benchmarks/bench_report.py                      # 1M executions in /tmp
    python benchmarks/bench_report.py --size 50m           # a year of nights: 365 x 100 x 1,400
    python benchmarks/bench_report.py --db /work/big50m.duckdb --rounds 1

A history written by an older pytest-stability is upgraded first (a write open: the
schema migration backfills the per-session summaries), timed apart.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GNU_TIME = shutil.which("time") or "/usr/bin/time"
GOAL_S = 5.0
GOAL_MIB = 1024.0
# --size: (sessions, repetitions, tests)
SIZES = {
    "1m": (20, 100, 500),
    "5m": (50, 100, 1000),
    "20m": (100, 100, 2000),
    "50m": (365, 100, 1400),  # a year of nightly --repeat 100 on a 1,400-test suite
}


def run_once(
    args: list[str], code: str | None = None, timeout: float | None = None
) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `stability ...` run in a fresh process.

    The peak comes from GNU time when it is installed; otherwise from wait4's ru_maxrss
    (on Linux that figure includes what the forking parent held, so this script keeps
    itself small: the history is generated in a subprocess too). A run killed after
    `timeout` seconds gives (inf, the peak so far or nan).
    """
    code = code or "from stability.cli import main; main(prog_name='stability')"
    command = [sys.executable, "-c", code, *args]
    report: Path | None = None
    if Path(GNU_TIME).exists():
        handle, name = tempfile.mkstemp(suffix=".time")
        os.close(handle)
        report = Path(name)
        command = [GNU_TIME, "-f", "%M", "-o", name, *command]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, errors = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if report is not None:
            report.unlink(missing_ok=True)
        return math.inf, math.nan
    status, usage = proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = time.perf_counter() - started
    if status not in (0, 1):  # check exits 1 on offenders
        tail = errors.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise SystemExit(f"stability {' '.join(args)} failed: {tail[0]}")
    if report is not None:
        peak_kib = int(report.read_text().split()[-1])
        report.unlink()
    else:
        peak_kib = usage.ru_maxrss
    return elapsed, peak_kib / 1024


def upgrade(db: Path) -> None:
    """Open the history for writing once (migrations run), timed apart."""
    code = (
        "import sys; from pathlib import Path; from stability.store.db import connect\n"
        "with connect(Path(sys.argv[1]), 'write'): pass"
    )
    elapsed, peak = run_once([str(db)], code=code)
    print(f"{'open for writing (upgrade)':34} {elapsed:6.2f} s {'':8} peak {peak:6.0f} MiB")


def cases(db: str, out: Path) -> dict[str, list[str]]:
    every = ["--db", db, "--label", "nightly"]
    found = {"stability --version (baseline)": ["--version"]}
    found["report html, last session"] = ["report", "--db", db, "--out", str(out / "last")]
    for fmt in ("html", "json", "junit", "markdown", "text"):
        found[f"report {fmt}, every session"] = [
            "report", *every, "--out", str(out / f"all-{fmt}"), "--format", fmt,
        ]  # fmt: skip
    found["check, every session"] = ["check", *every]
    found["check, last session"] = ["check", "--db", db]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="history to read (generated when missing)")
    parser.add_argument("--size", choices=sorted(SIZES), default="1m")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--repetitions", type=int)
    parser.add_argument("--tests", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="kill a command after this many seconds"
    )
    args = parser.parse_args()
    sessions, repetitions, tests = SIZES[args.size]
    sessions = args.sessions or sessions
    repetitions = args.repetitions or repetitions
    tests = args.tests or tests
    db: Path = args.db or Path(tempfile.gettempdir()) / (
        f"bench-{sessions}x{repetitions}x{tests}.duckdb"
    )
    if not db.exists():
        subprocess.run(
            [sys.executable, str(HERE / "make_history.py"), str(db),
             "--sessions", str(sessions), "--repetitions", str(repetitions),
             "--tests", str(tests)],
            check=True,
        )  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    print(
        f"history {db} ({db.stat().st_size / 2**20:.0f} MiB), {args.rounds} rounds, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"goal: under {GOAL_S:g} s and {GOAL_MIB:.0f} MiB at 50,000,000 executions"
    )
    upgrade(db)
    for name, command in cases(str(db), out).items():
        runs = [run_once(command, timeout=args.timeout) for _ in range(args.rounds)]
        times = [t for t, _ in runs]
        median, peak = statistics.median(times), max(m for _, m in runs)
        verdict = "ok" if median < GOAL_S and peak < GOAL_MIB else "OVER GOAL"
        if math.isinf(median):
            print(f"{name:34} killed after {args.timeout:g} s (every round)  OVER GOAL")
            continue
        print(
            f"{name:34} {median:6.2f} s (min {min(times):.2f}, max {max(times):.2f}) "
            f"peak {peak:6.0f} MiB  {median / GOAL_S:4.2f}x / {peak / GOAL_MIB:4.2f}x "
            f"of goal  {verdict}"
        )
    for name in ("last", "all-html"):
        page = out / name / "index.html"
        if page.exists():  # not when the run was killed
            print(f"index.html ({name}): {page.stat().st_size / 2**20:.1f} MiB")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
