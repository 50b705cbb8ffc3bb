"""The reaper: a process's containers and folder go when it dies, however it dies.

Real processes, real signals, the real engine: each owner is a `python -c` that starts
containers through the container layer and then dies (SIGKILL of its whole group, or a
clean exit); nothing here calls prune.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from stability.containers.cleanup import list_managed

pytestmark = pytest.mark.docker

# Starts `services` through the container layer (each start calls ensure_reaper), prints
# "<pid> <reaper pid> <owned folder>" and waits to be killed, or exits when told.
OWNER = """
import os, sys, time
from pathlib import Path
from stability.containers import reaper
from stability.containers.config import load_settings
from stability.containers.services import ServiceManager

manager = ServiceManager(load_settings(Path.cwd()), {services!r})
for name in {services!r}:
    manager.get(name)
folder = reaper.owned_tmpdir()
(folder / "scratch.txt").write_text("left by the owner")
print(os.getpid(), reaper._reapers[os.getpid()].pid, folder, flush=True)
if {exit_cleanly!r}:
    manager.close()
    sys.exit(0)
time.sleep(300)
"""


def start_owner(
    session: str, services: tuple[str, ...] = ("redis",), *, exit_cleanly: bool = False
) -> tuple[subprocess.Popen[str], int, int, Path]:
    env = {**os.environ, "STABILITY_SESSION_ID": session, "STABILITY_REPETITION": "1"}
    env.setdefault("STABILITY_POSTGRES_TIMEOUT", "180")  # a loaded machine starts it slowly
    code = OWNER.format(services=list(services), exit_cleanly=exit_cleanly)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, so the test can kill the whole group
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 3, f"owner failed to start (exit {proc.wait()})"
    return proc, int(line[0]), int(line[1]), Path(line[2])


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not within {timeout:g} s")
        time.sleep(0.1)
    return time.monotonic() - began


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigkill_of_the_owners_group_removes_its_containers_and_folder() -> None:
    session = f"reap-{uuid.uuid4().hex[:8]}"
    proc, _, reaper_pid, folder = start_owner(session, ("postgres", "redis"))
    assert {c.service for c in list_managed(session=session)} == {"postgres", "redis"}
    assert folder.is_dir() and alive(reaper_pid)

    os.killpg(proc.pid, signal.SIGKILL)  # the owner and its whole group
    proc.wait()
    assert alive(reaper_pid), "the reaper is in its own group: the kill spared it"
    wait_until(lambda: list_managed(session=session) == [])
    wait_until(lambda: not folder.exists())
    wait_until(lambda: not alive(reaper_pid))  # and it goes too


def test_a_start_in_flight_when_the_owner_dies_is_removed_too() -> None:
    session = f"reap-{uuid.uuid4().hex[:8]}"
    code = (
        "import os, threading, time\n"
        "from pathlib import Path\n"
        "from stability.containers.config import load_settings\n"
        "from stability.containers.services import ServiceManager\n"
        "m = ServiceManager(load_settings(Path.cwd()), {'postgres'})\n"
        "threading.Thread(target=m.get, args=('postgres',), daemon=True).start()\n"
        "time.sleep(0.8)\n"  # the container is being created or is starting
        "os.kill(os.getpid(), 9)\n"
    )
    env = {**os.environ, "STABILITY_SESSION_ID": session, "STABILITY_REPETITION": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, timeout=60)
    wait_until(lambda: list_managed(session=session) == [])
    time.sleep(2)  # a create that was still in flight lands late: look again
    assert list_managed(session=session) == []


def test_the_reaper_never_removes_another_owners_containers() -> None:
    first, second = (f"reap-{uuid.uuid4().hex[:8]}" for _ in range(2))
    proc_a, _, reaper_a, _ = start_owner(first)
    proc_b, _, _, _ = start_owner(second)
    try:
        [kept] = list_managed(session=second)
        proc_a.kill()
        proc_a.wait()
        wait_until(lambda: list_managed(session=first) == [])
        wait_until(lambda: not alive(reaper_a))  # done with every sweep
        assert list_managed(session=second) == [kept]
    finally:
        proc_b.kill()
        proc_b.wait()
    wait_until(lambda: list_managed(session=second) == [])


def test_the_reaper_exits_with_its_owner_after_a_clean_exit() -> None:
    session = f"reap-{uuid.uuid4().hex[:8]}"
    proc, _, reaper_pid, folder = start_owner(session, exit_cleanly=True)
    assert proc.wait(timeout=30) == 0
    assert list_managed(session=session) == []  # the owner stopped its own
    wait_until(lambda: not alive(reaper_pid))
    assert not folder.exists()


# An owner that registers a child with its reaper (as the runner does each repetition),
# prints "<child pid>", and waits to be killed. The child outlives it: it waits for the
# owner to die, then past the reaper's last sweep after that death, then creates a
# container in the owner's name (as a repetition's start in flight would) and exits.
OWNER_WITH_CHILD = """
import os, subprocess, sys
from stability.containers import reaper
from stability.containers.labels import process_started
folder = reaper.owned_tmpdir() / "child"
folder.mkdir()
child = subprocess.Popen(
    [sys.executable, "-c", {child!r}, str(os.getpid()), process_started(os.getpid())],
    start_new_session=True,
)
reaper.note_child(folder, child.pid)
print(child.pid, flush=True)
import time; time.sleep(300)
"""
LATE_CHILD = """
import os, sys, time
from pathlib import Path
from stability.containers.config import load_settings
from stability.containers.engine import docker_client
from stability.containers.labels import container_labels
owner, started = int(sys.argv[1]), sys.argv[2]
while os.getppid() == owner:
    time.sleep(0.05)
time.sleep(4.5)  # past the sweeps at 0, 1 and 3 s after the owner's death
image = load_settings(Path.cwd()).redis_image
labels = container_labels("redis", owner=owner, owner_started=started)
docker_client().containers.create(image, labels=labels)
"""


def test_containers_a_child_creates_after_its_owner_died_are_removed() -> None:
    session = f"reap-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "STABILITY_SESSION_ID": session, "STABILITY_REPETITION": "1"}
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_WITH_CHILD.format(child=LATE_CHILD)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    owner.kill()
    owner.wait()
    wait_until(lambda: list_managed(session=session) != [] or not alive(child), 30)
    wait_until(lambda: not alive(child), 30)
    wait_until(lambda: list_managed(session=session) == [], 15)
