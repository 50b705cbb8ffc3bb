"""What a failure's exception tells, read where the test ran (the recorder's annotator).

- `failing_frame`: where it failed in the tested project: the last traceback entry in
  the project's rootdir, outside installed packages and outside this package's fixtures.
  It goes into the failure signature, so two unrelated `assert a == b` are two causes.
- `is_environment_failure`: the test could not reach something outside our containers:
  a name that does not resolve, a network that is unreachable, a connection refused by
  an address that is not one of the repetition's containers. Such failures say nothing
  about the test's stability and are counted apart (see `analysis.rules`).
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_THIS_PACKAGE = Path(__file__).resolve().parent.parent  # stability/, not runner/
_INSTALLED = ("site-packages", "dist-packages")

_NAME_NOT_RESOLVED = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "name does not resolve",
    "could not translate host name",
    "no address associated with hostname",
    "getaddrinfo failed",
)
_UNREACHABLE = ("network is unreachable", "no route to host")
_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH}
_REFUSED = "connection refused"
# port 5432 / port=5432 / "localhost", port 5432 / 127.0.0.1:5432
_PORT = re.compile(r"port\W{0,3}(\d{2,5})\b|:(\d{2,5})\b", re.IGNORECASE)


def failing_frame(excinfo: Any, rootpath: Path) -> str | None:
    """`tests/test_orders.py:42 in test_total`: the innermost frame in the project."""
    root = Path(rootpath).resolve()
    try:
        entries = list(excinfo.traceback)
    except Exception:  # a traceback pytest could not walk
        return None
    for entry in reversed(entries):
        try:
            path = Path(str(entry.path)).resolve()
        except (OSError, ValueError):
            continue
        if not path.is_relative_to(root) or path.is_relative_to(_THIS_PACKAGE):
            continue
        if any(part in _INSTALLED for part in path.parts):
            continue
        return f"{path.relative_to(root).as_posix()}:{entry.lineno + 1} in {entry.name}"
    return None


def is_environment_failure(chain: Iterable[BaseException], our_ports: set[int]) -> bool:
    """Whether the exception (or one of its causes) is the network's, not our containers'."""
    chain = list(chain)
    texts = [str(exc).lower() for exc in chain]
    for exc, text in zip(chain, texts, strict=True):
        if isinstance(exc, socket.gaierror) or any(m in text for m in _NAME_NOT_RESOLVED):
            return True
        if getattr(exc, "errno", None) in _UNREACHABLE_ERRNOS:
            return True
        if any(m in text for m in _UNREACHABLE):
            return True
    refused = any(isinstance(exc, ConnectionRefusedError) for exc in chain) or any(
        _REFUSED in text for text in texts
    )
    if not refused:
        return False
    # refused by one of our containers: its own death is judged by container_health
    ports = {int(a or b) for text in texts for a, b in _PORT.findall(text)}
    return not ports & our_ports
