"""Failure signatures: an error message with its volatile parts normalised.

Two failures with one cause rarely print the same message: ports, ids, addresses,
timings and temporary paths differ from run to run. The signature replaces those parts
with placeholders so one cause groups under one signature:

    ConnectionError: port 54321 refused after 1.52s at 0x7f3a9c
    -> ConnectionError: port <port> refused after <n>s at <hex>
"""

from __future__ import annotations

import re

MAX_SIGNATURE = 500

# Order matters: the specific shapes go before the general number rule.
_RULES: list[tuple[re.Pattern[str], str]] = [
    # ISO timestamps and clock times
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    # UUIDs
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    # temporary paths: /tmp/..., /var/folders/..., pytest's basetemp, Windows temp
    (re.compile(r"(?:/private)?/(?:tmp|var/tmp|var/folders|dev/shm)/[^\s'\"),:;\]]*"), "<tmp>"),
    (re.compile(r"[A-Za-z]:\\[^\s'\"]*\\(?:Temp|tmp)\\[^\s'\"),:;\]]*", re.IGNORECASE), "<tmp>"),
    (re.compile(r"\S*pytest-of-[^\s/]+/pytest-\d+/[^\s'\"),:;\]]*"), "<tmp>"),
    # hex ids and addresses: 0x7f3a..., long hex runs (container ids, hashes)
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    # IPv4 addresses (with an optional port), then ports after a host or the word port
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "<addr>"),
    (re.compile(r"(?<=localhost:)\d{1,5}\b"), "<port>"),
    (re.compile(r"(?<=[\]\w]):\d{2,5}\b(?=[/\s'\"),]|$)"), ":<port>"),
    (re.compile(r"\b(port\s*[=:]?\s*)\d{1,5}\b", re.IGNORECASE), r"\1<port>"),
    # object reprs: <Foo object at <hex>> is covered above; pids and line numbers too
    # any remaining number (ints, floats, with units glued on after)
    (re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<n>"),
]
_SPACES = re.compile(r"\s+")
_RUNS = re.compile(r"(<n>)(?:[ ,]*<n>)+")


def failure_signature(
    message: str | None, error_type: str | None = None, frame: str | None = None
) -> str | None:
    """The normalised form of a failure's message, prefixed by its error type and
    followed by where it failed in the project (`frame`, kept as it is):

        AssertionError: assert <n> == <n> @ tests/test_orders.py:42 in test_total

    None when there is nothing to go on (no message and no type).
    """
    text = (message or "").strip()
    if not text and not error_type:
        return None
    where = f" @ {frame}" if frame else ""
    return _normalise(text, error_type)[: MAX_SIGNATURE - len(where)] + where


def _normalise(text: str, error_type: str | None) -> str:
    # The first line carries the cause; assertion diffs below it vary with the data.
    first = text.splitlines()[0] if text else ""
    for pattern, replacement in _RULES:
        first = pattern.sub(replacement, first)
    first = _RUNS.sub(r"\1", first)
    first = _SPACES.sub(" ", first).strip()
    if error_type and not first.startswith(error_type):
        first = f"{error_type}: {first}" if first else error_type
    return first
