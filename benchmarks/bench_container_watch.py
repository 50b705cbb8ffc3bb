"""What watching the tests' own containers costs (`stability.containers.watch`).

Three figures, each a median over fresh processes or rounds, with and without the watch:

- `import docker` and `testcontainers.core.container` (the hook patches them as they load);
- one container's life through the Docker SDK: create, start, remove (a `sleep` in the
  Redis image, so the container's own start-up does not blur the figure);
- the recorder's per-phase question "how long did containers take to start", against a
  process that started 100 containers.

    python benchmarks/bench_container_watch.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from stability.containers.images import REDIS_IMAGE

IMPORT = """
import time
{install}
t = time.perf_counter()
import docker, testcontainers.core.container
print(time.perf_counter() - t)
"""

LIFECYCLE = """
import statistics, sys, time
{install}
import docker
client = docker.from_env()
times = []
for _ in range({rounds}):
    t = time.perf_counter()
    c = client.containers.run({image!r}, ["sleep", "30"], detach=True,
                              labels={{"dev.pytest-stability.managed": "true"}})
    c.remove(force=True)
    times.append(time.perf_counter() - t)
print(statistics.median(times))
"""

INSTALL = "from stability.containers import sdk_patch; sdk_patch.install()"


def run(code: str, watched: bool, **fmt: object) -> float:
    source = code.format(install=INSTALL if watched else "", **fmt)
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    image = os.environ.get("STABILITY_REDIS_IMAGE", REDIS_IMAGE)
    print(f"{args.rounds} rounds, {os.cpu_count()} cores, image {image}")
    for label, watched in (("unwatched", False), ("watched", True)):
        imports = [run(IMPORT, watched) for _ in range(args.rounds)]
        print(
            f"import docker + testcontainers, {label:9}: median {statistics.median(imports):.3f} s"
        )
    for label, watched in (("unwatched", False), ("watched", True)):
        life = run(LIFECYCLE, watched, rounds=args.rounds, image=image)
        print(f"container run + remove, {label:9}: median {life * 1000:.0f} ms")

    from stability.containers.watch import Watch

    watch = Watch()
    for i in range(100):
        watch.note_interval(float(i), i + 0.5)
    started = time.perf_counter()
    for _ in range(10_000):
        watch.container_seconds(40.0, 60.0)
    per_call = (time.perf_counter() - started) / 10_000
    print(f"container seconds of one phase (100 starts known): {per_call * 1e6:.0f} us")


if __name__ == "__main__":
    main()
