"""Merging histories, importing JUnit XML and the pandas API at scale: time and peak memory.

Generates a history (benchmarks/make_history.py; 10 sessions x 100 repetitions x 500
tests = 500,000 executions by default), then in fresh processes, a few rounds each:
merges it into a new file (what a night's merge of shards does), merges it again (adds
nothing), reads it with `stability.History`, and imports 100 JUnit files of 500 tests.
Prints medians and the largest peak RSS.

    python benchmarks/bench_scale.py
    python benchmarks/bench_scale.py --sessions 20 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_report import run_once  # noqa: E402

API = """
import sys, time
from stability import History
h = History(sys.argv[1])
t = time.perf_counter(); frame = h.executions(label="nightly"); a = time.perf_counter() - t
t = time.perf_counter(); tests = h.tests(label="nightly"); b = time.perf_counter() - t
print(f"{len(frame)} {a:.3f} {len(tests)} {b:.3f}")
"""


def junit_files(folder: Path, files: int, tests: int) -> list[str]:
    names = []
    for i in range(files):
        cases = "".join(
            f'<testcase classname="tests.test_m{t % 20}" name="test_{t}" time="0.01">'
            + ('<failure message="boom">trace</failure>' if (i * t) % 97 == 3 else "")
            + "</testcase>"
            for t in range(tests)
        )
        path = folder / f"run{i}.xml"
        path.write_text(f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>')
        names.append(str(path))
    return names


def api_once(db: Path) -> tuple[int, float, int, float]:
    out = subprocess.run(
        [sys.executable, "-c", API, str(db)], check=True, capture_output=True, text=True
    ).stdout.split()[-4:]
    return int(out[0]), float(out[1]), int(out[2]), float(out[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    source = work / "source.duckdb"
    subprocess.run(
        [sys.executable, str(HERE / "make_history.py"), str(source),
         "--sessions", str(args.sessions), "--repetitions", "100", "--tests", "500"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    executions = args.sessions * 100 * 500
    rows: list[tuple[str, list[float], list[float]]] = []
    first, again, imports = [], [], []
    for i in range(args.rounds):
        into = work / f"merged{i}.duckdb"
        first.append(run_once(["merge", str(source), "--into", str(into)]))
        again.append(run_once(["merge", str(source), "--into", str(into)]))
        folder = work / f"junit{i}"
        folder.mkdir()
        files = junit_files(folder, 100, 500)
        imports.append(run_once(["import", "junit", *files, "--db", str(work / f"j{i}.duckdb")]))
    for name, runs in (
        (f"merge {executions:,} executions into a new file", first),
        ("merge the same file again (adds nothing)", again),
        ("import junit: 100 files x 500 tests", imports),
    ):
        rows.append((name, [r[0] for r in runs], [r[1] for r in runs]))
    for name, walls, peaks in rows:
        print(f"{name:55s} median {statistics.median(walls):6.2f} s, peak {max(peaks):6.0f} MiB")
    api = [api_once(source) for _ in range(args.rounds)]
    print(
        f"History.executions(): {api[0][0]:,} rows in median "
        f"{statistics.median(a[1] for a in api):.2f} s; History.tests(): {api[0][2]} tests "
        f"in median {statistics.median(a[3] for a in api):.2f} s"
    )


if __name__ == "__main__":
    main()
