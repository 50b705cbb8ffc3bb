# A repetition's `python -m pytest` process, started before its turn (`runner.prestart`).
# Run as `python -c` with this text, never imported: pytest must be the first to import
# the package `stability`, or it could not rewrite the plugin's asserts.
#
# It imports what the repetition will import anyway (pytest; psycopg and redis when the
# campaign's tests use our containers), then waits on the pipe `sys.argv[1]` for its
# order: the repetition's environment, output file and pytest arguments. End of file
# without an order (the runner did not need it, or died) ends it quietly.
import contextlib
import json
import os
import runpy
import sys
import tempfile
from typing import Any

import pytest  # noqa: F401  (what `python -m pytest` imports first)


def _preload(names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(Exception):  # the repetition meets it at its own import
            __import__(name)


def _wait_for_order(fd: int) -> dict[str, Any] | None:
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        return None
    order: dict[str, Any] = json.loads(b"".join(chunks))
    return order


def _take_order(order: dict[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(order["env"])
    tempfile.tempdir = None  # the folder of the old TMPDIR, if it was asked for already
    log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    if sys.path and sys.path[0] == "":  # `python -m` puts the working folder first, in full
        sys.path[0] = os.getcwd()
    sys.argv = ["pytest", *order["args"]]


_preload(sys.argv[2:])
_order = _wait_for_order(int(sys.argv[1]))
if _order is None:
    sys.exit(0)
_take_order(_order)
del _preload, _wait_for_order, _take_order, _order
# as `python -m pytest` runs it: pytest/__main__.py as the module __main__
runpy.run_module("pytest", run_name="__main__", alter_sys=True)
