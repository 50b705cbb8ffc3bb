"""`7d`, `12h`, `2026-11-01`: the start of a time window, as the CLI and the API take it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `12h`, `30m`, `45s`, `2w` back from now, or an ISO date / date-time (UTC if
    naive). Raises ValueError with a message for people."""
    now = now or datetime.now(UTC)
    match = _SINCE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before year 1") from None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r}: write a duration like 7d, 12h, 30m or a date like 2026-11-01"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
