"""Removing what a process leaves behind when it dies, however it dies.

Ryuk is off (it needs a pulled image), so every process that creates containers first
calls `ensure_reaper()`: it starts a small detached watcher (its own session and process
group, so killing the owner's group does not take it down) that waits for the owner to
exit, then removes the containers labelled with the owner's pid, host and start time,
and the owner's temporary folder (`owned_tmpdir`). It exits with its owner, cleanly or
not; it never touches another owner's containers. Nothing waits for it.

The watcher waits on a pidfd (Linux) and polls elsewhere. After the owner's death it
looks again a few times, since a container create that was in flight when the owner
died still completes in the engine. Processes the owner started that create containers
in its name (a runner's repetitions, registered with `note_child`) can outlive it for a
few seconds: the watcher waits for them too, then looks again.

Run as `python -m stability.containers.reaper PID STARTED HOST FOLDER`.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stability.containers import labels
from stability.containers.cleanup import process_alive

SWEEPS_AFTER_DEATH_S = (0.0, 1.0, 3.0)
# How long to wait for the owner's children after it died; a runner's repetition stops
# itself within about 16 s of losing its runner (`recorder._watch_runner`).
CHILDREN_WAIT_S = 60.0
_POLL_S = 0.2
_FOLDER_PREFIX = "stability-owner-"
_CHILD_FILE = ".process"

_lock = threading.Lock()
_reapers: dict[int, subprocess.Popen[bytes]] = {}


def ensure_reaper(owner_pid: int | None = None) -> None:
    """Make sure a watcher removes `owner_pid`'s containers and folder once it is gone.

    Idempotent per owner within a process; returns at once (the watcher starts on its
    own). `owner_pid` defaults to this process.
    """
    pid = os.getpid() if owner_pid is None else owner_pid
    with _lock:
        if pid in _reapers and _reapers[pid].poll() is None:
            return
        started = labels.process_started(pid) or ""
        argv = [
            sys.executable,
            "-P",  # not the working directory's modules: a project may have its own `stability`
            "-m",
            "stability.containers.reaper",
            str(pid),
            started,
            socket.gethostname(),
            str(_folder(pid, started)),
        ]
        _reapers[pid] = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )


def owned_tmpdir() -> Path:
    """A temporary folder of this process that its reaper removes when the process dies."""
    pid = os.getpid()
    folder = _folder(pid, labels.process_started(pid) or "")
    folder.mkdir(mode=0o700, exist_ok=True)
    ensure_reaper(pid)
    return folder


def _folder(pid: int, started: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{_FOLDER_PREFIX}{pid}-{started or 'x'}"


def note_child(folder: Path, pid: int) -> None:
    """Say that process `pid`, working in `folder` (inside this process's owned folder),
    creates containers in this process's name: the reaper waits for it before its last
    sweeps."""
    (folder / _CHILD_FILE).write_text(f"{pid} {labels.process_started(pid) or ''}\n")


def _children(folder: Path) -> list[tuple[int, str]]:
    found = []
    for note in folder.glob(f"*/{_CHILD_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            pid, _, started = note.read_text(encoding="ascii").strip().partition(" ")
            found.append((int(pid), started))
    return found


# -- the watcher ----------------------------------------------------------------------


def main(argv: list[str]) -> int:
    pid, started, host, folder = int(argv[0]), argv[1], argv[2], Path(argv[3])
    wait_for_exit(pid, started)
    ours = folder.name.startswith(_FOLDER_PREFIX)
    children = _children(folder) if ours else []

    def sweep() -> None:
        with contextlib.suppress(Exception):  # no engine, or it went away: nothing to do
            remove_owned_containers(pid, started, host)
        if ours:
            shutil.rmtree(folder, ignore_errors=True)

    sweep()
    if children:
        deadline = time.monotonic() + CHILDREN_WAIT_S
        for child, child_started in children:
            wait_for_exit(child, child_started, timeout=max(0.0, deadline - time.monotonic()))
    began = time.monotonic()
    for at in SWEEPS_AFTER_DEATH_S:
        time.sleep(max(0.0, began + at - time.monotonic()))
        sweep()
    return 0


def wait_for_exit(pid: int, started: str, timeout: float | None = None) -> None:
    """Return once process `pid` (the one that started at `started`) has exited, or
    after `timeout` seconds."""
    if not _same_process(pid, started):
        return
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        deadline = None if timeout is None else time.monotonic() + timeout
        while _same_process(pid, started):
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(_POLL_S)
        return
    try:
        if _same_process(pid, started):  # not reused between the check and the open
            select.select([fd], [], [], timeout)  # readable when the process exits
    finally:
        os.close(fd)


def _same_process(pid: int, started: str) -> bool:
    if not process_alive(pid):
        return False
    now = labels.process_started(pid)
    if now is None:  # no /proc: the pid is all there is to go by
        return not started
    return now == started and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def remove_owned_containers(pid: int, started: str, host: str) -> int:
    """Remove the containers labelled as owned by exactly this process; how many."""
    from stability.containers.engine import docker_client

    filters = [
        f"{labels.MANAGED}=true",
        f"{labels.OWNER_PID}={pid}",
        f"{labels.OWNER_HOST}={host}",
    ]
    if started:
        filters.append(f"{labels.OWNER_STARTED}={started}")
    removed = 0
    for container in docker_client().containers.list(
        all=True, filters={"label": filters}, ignore_removed=True
    ):
        with contextlib.suppress(Exception):  # already gone
            container.remove(force=True, v=True)
            removed += 1
    return removed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
