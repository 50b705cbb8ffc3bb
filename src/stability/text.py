"""Small text helpers shared by the error messages and the reports."""

from __future__ import annotations


def first_line(text: str | None, limit: int = 200, *, empty: str = "") -> str:
    """The first non-blank line of `text`, cut to `limit` characters with an ellipsis."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return empty
    line = lines[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"
