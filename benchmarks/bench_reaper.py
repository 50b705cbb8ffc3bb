"""How soon the reaper removes a SIGKILLed process's containers, and what it costs pytest.

Each round starts a process that starts PostgreSQL and Redis through the container
layer (so with its reaper), SIGKILLs it, and times until no container of it is left.
Also times `ensure_reaper()` itself, the only part a pytest process waits for.
Prints medians.

    python benchmarks/bench_reaper.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid

from stability.containers.cleanup import list_managed
from stability.containers.images import POSTGRES_IMAGE, REDIS_IMAGE

os.environ.setdefault("STABILITY_POSTGRES_IMAGE", POSTGRES_IMAGE)
os.environ.setdefault("STABILITY_REDIS_IMAGE", REDIS_IMAGE)

OWNER = """
import time
from pathlib import Path
from stability.containers.config import load_settings
from stability.containers.services import ServiceManager
m = ServiceManager(load_settings(Path.cwd()), {"postgres", "redis"})
m.get("postgres"); m.get("redis")
print("up", flush=True)
time.sleep(300)
"""


def one_round() -> float:
    session = f"bench-reaper-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "STABILITY_SESSION_ID": session}
    proc = subprocess.Popen([sys.executable, "-c", OWNER], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
    assert len(list_managed(session=session)) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.perf_counter()
    while list_managed(session=session):
        time.sleep(0.05)
    return time.perf_counter() - killed


def ensure_cost(rounds: int) -> float:
    code = (
        "import time; from stability.containers.reaper import ensure_reaper; "
        "t = time.perf_counter(); ensure_reaper(); print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
        for _ in range(rounds)
    ]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    gone = [one_round() for _ in range(rounds)]
    print(
        f"containers gone after SIGKILL: median {statistics.median(gone):.2f} s, "
        f"max {max(gone):.2f} s over {rounds} rounds (postgres + redis)"
    )
    print(f"ensure_reaper() in the owner: median {ensure_cost(rounds) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
