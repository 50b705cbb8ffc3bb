"""Repetition processes started before their turn.

A repetition's pytest process spends about 0.2 s of CPU importing pytest, and 0.3 s more
importing psycopg and redis when its tests use our containers. While repetition k runs,
a spare process for a later one makes those imports (on the other core, if there is
one) and waits; a repetition that takes it hands it its own environment, output file and
pytest arguments (`prestart_child.py`), and it runs pytest from there.

It is still a fresh process for each repetition: its own interpreter and hash seed, no
state of an earlier repetition, and nothing of the project (test files, conftests,
plugins) imported before its turn, only the libraries named. A spare whose environment
no longer matches the runner's is not used. `stability run --no-prestart` turns it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_CHILD = Path(__file__).with_name("prestart_child.py")
_PYTEST_MODULE = ["-m", "pytest"]


@dataclass
class Spare:
    """A started interpreter waiting for its repetition."""

    proc: subprocess.Popen[bytes]
    order_fd: int  # our end of the pipe it waits on (-1 once closed)
    env: dict[str, str]  # the environment it started with

    def start(self, env: dict[str, str], log: Path, args: list[str]) -> bool:
        """Hand it its repetition; False if it can no longer take one (it ended)."""
        order = json.dumps({"env": env, "log": str(log), "args": args}).encode()
        try:
            view = memoryview(order)
            while view:
                view = view[os.write(self.order_fd, view) :]
        except OSError:  # a broken pipe: it is gone
            self.discard()
            return False
        finally:
            self._close_pipe()
        return True

    def discard(self) -> None:
        """End it unused (it holds nothing yet)."""
        self._close_pipe()
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()

    def _close_pipe(self) -> None:
        # once only: a number closed twice could be another thread's file by then
        if self.order_fd >= 0:
            fd, self.order_fd = self.order_fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)


class Spares:
    """Up to `count` spare processes for a campaign's repetitions, replaced as taken."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: Callable[[], dict[str, str]],
        preload: Iterable[str],
        count: int,
    ) -> None:
        self.python, self.cwd, self.env = argv[0], cwd, env
        self.preload = sorted(set(preload))
        self._child_code = _CHILD.read_text()
        self.count = count
        self._waiting: list[Spare] = []
        self._closed = False

    @staticmethod
    def usable(argv: list[str]) -> bool:
        """Whether the repetitions run `python -m pytest ...` (what a spare runs)."""
        return argv[1:3] == _PYTEST_MODULE

    def take(self, still_to_run: int) -> Spare | None:
        """A waiting spare started with the environment a repetition gets now, and
        others started in its place for the repetitions still to run after it."""
        env = self.env()
        found = None
        while self._waiting and found is None:
            spare = self._waiting.pop(0)
            if spare.env == env and spare.proc.poll() is None:
                found = spare
            else:
                spare.discard()
        self.fill(still_to_run)
        return found

    def fill(self, still_to_run: int) -> None:
        """Spares for the next `still_to_run` repetitions, up to `count`."""
        env = self.env()
        while not self._closed and len(self._waiting) < min(self.count, still_to_run):
            self._waiting.append(self._spawn(env))

    def close(self) -> None:
        self._closed = True
        waiting, self._waiting = self._waiting, []
        for spare in waiting:
            spare.discard()

    def _spawn(self, env: dict[str, str]) -> Spare:
        order_read, order_write = os.pipe()  # not inherited by any other child
        try:
            proc = subprocess.Popen(
                [self.python, "-c", self._child_code, str(order_read), *self.preload],
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(order_read,),
                start_new_session=True,  # its own group, as a repetition's process
            )
        except BaseException:
            os.close(order_write)
            raise
        finally:
            os.close(order_read)
        return Spare(proc, order_write, env)
