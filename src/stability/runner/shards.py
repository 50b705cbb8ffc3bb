"""Sharding a campaign across machines: which repetition numbers a shard runs.

Shard i of n runs the numbers r in 1..N with (r - 1) % n == i - 1: every number exactly
once across the n shards, and a shard's share depends only on (i, n, N), never on which
shard starts first. All shards use one session id (`--session-id`), so `stability
merge` can put their files back together as one session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# Safe in file names, URLs and CI variables: GitHub's `run_id-run_attempt`, GitLab's
# `$CI_PIPELINE_ID`, or any name a team picks.
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def numbers(self, repeat: int) -> list[int]:
        """This shard's repetition numbers among 1..repeat."""
        return list(range(self.index, repeat + 1, self.count))


def parse_shard(text: str) -> Shard:
    """`2/4` (shard 2 of 4); a ValueError saying what to write otherwise."""
    match = _SHARD.match(text)
    if not match:
        raise ValueError(f"{text!r}: write I/N, e.g. 2/4 (shard 2 of 4)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"{text!r}: I must be between 1 and N, and N at least 1")
    return Shard(index, count)


def check_session_id(text: str) -> str:
    """`text` if it is a usable session id; a ValueError saying what is otherwise."""
    if not _SESSION_ID.match(text):
        raise ValueError(
            f"{text!r}: use up to 100 letters, digits and . _ : - (starting with a letter or digit)"
        )
    return text
