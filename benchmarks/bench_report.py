"""`stability report` over a large generated history: wall time and peak memory.

Generates the history once (benchmarks/make_history.py; 20 sessions x 100 repetitions x
500 tests = 1,000,000 executions by default), then runs each command a few times in a
fresh process, as a user would, and reports the median wall time and the largest peak
resident memory (ru_maxrss of the child).

    python benchmarks/bench_report.py                      # 1M executions in /tmp
    python benchmarks/bench_report.py --db /tmp/big.duckdb --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GNU_TIME = shutil.which("time") or "/usr/bin/time"


def run_once(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `stability ...` run in a fresh process.

    The peak comes from GNU time when it is installed; otherwise from wait4's ru_maxrss
    (on Linux that figure includes what the forking parent held, so this script keeps
    itself small: the history is generated in a subprocess too).
    """
    code = "from stability.cli import main; main(prog_name='stability')"
    command = [sys.executable, "-c", code, *args]
    report: Path | None = None
    if Path(GNU_TIME).exists():
        handle, name = tempfile.mkstemp(suffix=".time")
        os.close(handle)
        report = Path(name)
        command = [GNU_TIME, "-f", "%M", "-o", name, *command]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # check exits 1 on offenders
        raise SystemExit(f"stability {' '.join(args)} failed")
    if report is not None:
        peak_kib = int(report.read_text().split()[-1])
        report.unlink()
    else:
        peak_kib = usage.ru_maxrss
    return elapsed, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "bench-1m.duckdb")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.db.exists():
        subprocess.run(
            [sys.executable, str(HERE / "make_history.py"), str(args.db),
             "--sessions", str(args.sessions), "--repetitions", str(args.repetitions),
             "--tests", str(args.tests)],
            check=True,
        )  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    db = str(args.db)
    cases = {
        "stability --version (baseline)": ["--version"],
        "report html, last session": ["report", "--db", db, "--out", str(out / "last")],
        "report html, every session": [
            "report", "--db", db, "--out", str(out / "all"), "--label", "nightly",
        ],
        "report json, every session": [
            "report", "--db", db, "--out", str(out / "json"), "--label", "nightly",
            "--format", "json",
        ],
        "check, every session": ["check", "--db", db, "--label", "nightly"],
    }  # fmt: skip
    print(
        f"history {args.db} ({args.db.stat().st_size / 2**20:.0f} MiB), {args.rounds} rounds, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    for name, command in cases.items():
        runs = [run_once(command) for _ in range(args.rounds)]
        times = [t for t, _ in runs]
        print(
            f"{name:31} median {statistics.median(times):5.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}), "
            f"peak RSS {max(m for _, m in runs):.0f} MiB"
        )
    for name in ("last", "all"):
        page = out / name / "index.html"
        print(f"index.html ({name}): {page.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
