"""Container start-up on this machine: PostgreSQL alone, Redis alone, both in parallel.

Each round starts fresh containers through the same code the fixtures use and times
from asking to ready (both: until the slower of the two is ready). Prints medians.

    python benchmarks/bench_startup.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from stability.containers.config import load_settings
from stability.containers.images import POSTGRES_IMAGE, REDIS_IMAGE
from stability.containers.services import ServiceManager

os.environ.setdefault("STABILITY_POSTGRES_IMAGE", POSTGRES_IMAGE)
os.environ.setdefault("STABILITY_REDIS_IMAGE", REDIS_IMAGE)


def one_round(services: list[str]) -> float:
    manager = ServiceManager(load_settings(Path.cwd()), needed=services)
    started = time.perf_counter()
    try:
        for name in services:
            manager.get(name)
        return time.perf_counter() - started
    finally:
        manager.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(
        f"postgres image {os.environ['STABILITY_POSTGRES_IMAGE']}, "
        f"redis image {os.environ['STABILITY_REDIS_IMAGE']}, {args.rounds} rounds, "
        f"{os.cpu_count()} cores"
    )
    for label, services in [
        ("postgres alone", ["postgres"]),
        ("redis alone", ["redis"]),
        ("both in parallel", ["postgres", "redis"]),
    ]:
        times = [one_round(services) for _ in range(args.rounds)]
        print(
            f"{label:18} median {statistics.median(times):.2f} s  "
            f"(min {min(times):.2f}, max {max(times):.2f})"
        )


if __name__ == "__main__":
    main()
