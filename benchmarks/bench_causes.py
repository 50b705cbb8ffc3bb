"""How many repetitions find each kind of flaky test, and how many probes `diagnose`
needs (a benchmark, not a test): prints figures, asserts nothing.

A mixed suite of 31 tests (three victim/polluter pairs: module global, environment
variable, temporary file; a self-polluting test; a test flaky on its own, failing one
repetition in three; 22 innocent ones) runs

(a) in the declared order, `--repeat R`: do the victims ever fail?
(b) shuffled, `--repeat R --seed S` for several S: the repetition at which each victim
    first fails, and the first at which the shuffled orders alone single out its polluter
    (the suspects rule: tests seen before it x 2^-orders < 0.01);
(c) `--in-process 2`: the repetition at which the self-polluting test first fails;
(d) `stability diagnose` on each victim of each shuffled campaign: probes needed, and
    whether it named exactly the polluter.

    python benchmarks/bench_causes.py [--repeat 16] [--campaigns 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

import duckdb

PAIRS = """
import os, tempfile
from pathlib import Path
STATE = {}
def test_victim_global():
    assert not STATE.get("dirty")
def test_victim_env():
    assert os.environ.get("PAIR_FLAG") is None
def test_victim_file():
    assert not (Path(tempfile.gettempdir()) / "pair-marker").exists()
def test_polluter_global():
    STATE["dirty"] = True
def test_polluter_env():
    os.environ["PAIR_FLAG"] = "1"
def test_polluter_file():
    (Path(tempfile.gettempdir()) / "pair-marker").write_text("x")
"""
OTHERS = """
import os
REP = int(os.environ.get("STABILITY_REPETITION", "0"))
SEEN = []
def test_self_polluting():
    assert not SEEN
    SEEN.append(1)
def test_flaky_on_its_own():
    assert REP % 3 != 1
"""
INNOCENT = "\n".join(f"def test_innocent_{i}():\n    pass\n" for i in range(22))
KINDS = ("global", "env", "file")
STABILITY = [sys.executable, "-c", "from stability.cli import main; main()"]


def stability(cwd: Path, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [*STABILITY, *args, "--json"], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"stability {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql, list(params)).fetchall()
    finally:
        conn.close()


def first_failure(db: Path, session: str, nodeid: str) -> int | None:
    found = rows(
        db,
        "SELECT min(repetition) FROM executions WHERE session_id = ? AND nodeid = ? "
        "AND outcome = 'failed'",
        session,
        nodeid,
    )
    return found[0][0] if found and found[0][0] is not None else None  # type: ignore[return-value]


def singled_out_at(db: Path, session: str, victim: str, polluter: str) -> int | None:
    """The first repetition count after which the polluter alone separates the victim's
    failing orders from its passing ones with chance under 1%."""
    orders = rows(
        db,
        "SELECT repetition, list(nodeid ORDER BY position), "
        "bool_or(nodeid = ? AND outcome = 'failed') FROM executions WHERE session_id = ? "
        "GROUP BY 1 ORDER BY 1",
        victim,
        session,
    )
    seen: list[tuple[set[str], bool]] = []
    for n, (_, order, failed) in enumerate(orders, start=1):
        names = list(order)  # type: ignore[call-overload]
        seen.append((set(names[: names.index(victim)]), bool(failed)))
        fails = [b for b, f in seen if f]
        passes = [b for b, f in seen if not f]
        if not fails or not passes:
            continue
        separating = set.intersection(*fails) - set().union(*passes)
        candidates = len(set().union(*(b for b, _ in seen)))
        if polluter in separating and candidates * 0.5**n < 0.01:
            return n
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=16)
    parser.add_argument("--campaigns", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "test_pairs.py").write_text(PAIRS)
        (root / "test_others.py").write_text(OTHERS)
        (root / "test_innocent.py").write_text(INNOCENT)
        os.environ.pop("STABILITY_DB", None)
        db = root / ".stability" / "history.duckdb"
        r = str(args.repeat)
        fixed = stability(root, "run", ".", "--repeat", r, "--jobs", "2", "-q")
        fixed_fails = {
            k: first_failure(db, str(fixed["session"]), f"test_pairs.py::test_victim_{k}")
            for k in KINDS
        }
        print(f"(a) declared order, {r} repetitions: victims' first failure {fixed_fails}")
        own = first_failure(db, str(fixed["session"]), "test_others.py::test_flaky_on_its_own")
        print(f"    the test flaky on its own first failed in repetition {own}")
        first: dict[str, list[int | None]] = {k: [] for k in KINDS}
        single: dict[str, list[int | None]] = {k: [] for k in KINDS}
        probes: dict[str, list[int]] = {k: [] for k in KINDS}
        exact = 0
        for c in range(args.campaigns):
            seed = 1000 * (c + 1)
            run = stability(root, "run", ".", "--repeat", r, "--seed", str(seed), "-j", "2", "-q")
            session = str(run["session"])
            for k in KINDS:
                victim = f"test_pairs.py::test_victim_{k}"
                first[k].append(first_failure(db, session, victim))
                single[k].append(
                    singled_out_at(db, session, victim, f"test_pairs.py::test_polluter_{k}")
                )
                if first[k][-1] is None:
                    continue  # never failed in this campaign: nothing to diagnose
                d = stability(root, "diagnose", victim, "--session", session, "-q")
                probes[k].append(int(d["probes"]))  # type: ignore[call-overload]
                exact += d["polluters"] == [f"test_pairs.py::test_polluter_{k}"]
        for k in KINDS:
            print(
                f"(b) shuffled, victim {k}: first failure at repetitions {first[k]}; "
                f"polluter singled out by the orders alone after {single[k]}"
            )
        in_process = stability(root, "run", ".", "--repeat", "2", "--in-process", "2", "-q")
        sp = first_failure(db, str(in_process["session"]), "test_others.py::test_self_polluting")
        print(f"(c) --in-process 2: the self-polluting test first failed in repetition {sp}")
        every = [p for k in KINDS for p in probes[k]]
        print(
            f"(d) diagnose: probes per victim {probes} (median {median(every or [0])}, max "
            f"{max(every, default=0)}); named exactly the polluter in {exact} of {len(every)}"
        )


if __name__ == "__main__":
    main()
