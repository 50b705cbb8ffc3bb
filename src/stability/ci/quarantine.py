"""The quarantine file: flaky tests whose failures should not fail ordinary runs for a while.

`stability quarantine` writes it from the history's verdicts: the tests that violate the
target *and* are flaky (a broken test is a bug to fix, never quarantined), each with its
rate, the date and an expiry. The pytest plugin reads it (`quarantine_plugin`). The file
is TOML, one `[[test]]` table per test, so a team can read, review and edit it:

    [[test]]
    nodeid = "tests/test_orders.py::test_double_submit"
    reason = "flaky: 15% (3/20), 95% interval 5.2%-36%, violates the 1% target"
    flake_rate = 0.15
    quarantined_on = 2026-11-25
    expires = 2026-12-09
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from stability.exceptions import UsageError

if TYPE_CHECKING:
    from stability.analysis.models import TestStats

MARKER = "# pytest-stability quarantine"
DEFAULT_DAYS = 14


@dataclass(frozen=True)
class Entry:
    nodeid: str
    reason: str
    quarantined_on: date
    expires: date
    flake_rate: float | None = None
    signature: str | None = None

    def expired(self, today: date) -> bool:
        return today > self.expires


def entries_from_report(
    tests: Iterable[TestStats], *, today: date, days: int, target: float
) -> list[Entry]:
    """The violating flaky tests of a report's per-test table, worst first."""
    from stability.report import _format as f
    from stability.report._format import pct as format_rate

    chosen: list[Entry] = []
    for t in tests:
        if t.verdict != "violates" or t.status != "flaky":
            continue
        c = t.counts
        chosen.append(
            Entry(
                nodeid=t.nodeid,
                reason=(
                    f"flaky: {f.pct(t.flake_rate)} ({c.failures}/{c.decided}), 95% interval "
                    f"{f.ci(t)}, violates the {format_rate(target)} target"
                ),
                quarantined_on=today,
                expires=today + timedelta(days=days),
                flake_rate=round(t.flake_rate, 6) if t.flake_rate is not None else None,
                signature=t.signatures[0].signature if t.signatures else None,
            )
        )
    return chosen


def render(entries: Iterable[Entry], header: str) -> str:
    lines = [
        MARKER,
        f"# {header}",
        "# Quarantined tests still run; their failures do not fail the pytest session until",
        "# `expires`. `pytest --stability-quarantine FILE` or [tool.stability] quarantine.",
    ]
    for e in entries:
        lines += ["", "[[test]]", f"nodeid = {_string(e.nodeid)}", f"reason = {_string(e.reason)}"]
        if e.flake_rate is not None:
            lines.append(f"flake_rate = {e.flake_rate}")
        if e.signature:
            lines.append(f"signature = {_string(e.signature[:300])}")
        lines += [f"quarantined_on = {e.quarantined_on.isoformat()}", f"expires = {e.expires}"]
    return "\n".join(lines) + "\n"


def write(path: Path, entries: list[Entry], header: str) -> None:
    """Write the file; an existing file is replaced only if this tool wrote it."""
    if path.exists():
        try:
            first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        except (OSError, UnicodeDecodeError):
            first = ""
        if first.strip() != MARKER:
            raise UsageError(
                f"{path} exists and was not written by `stability quarantine`: "
                "choose another --out or remove it"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(entries, header), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def read(path: Path) -> list[Entry]:
    """The entries of a quarantine file; one clear UsageError if it is unusable."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"quarantine file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"quarantine file {path} is not valid TOML: {exc}") from None
    tables = data.get("test", [])
    if not isinstance(tables, list):
        raise UsageError(f"quarantine file {path}: `test` must be an array of tables")
    result = []
    for i, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise UsageError(f"quarantine file {path}: entry {i} is not a table")
        nodeid, expires = table.get("nodeid"), table.get("expires")
        if not isinstance(nodeid, str) or not nodeid:
            raise UsageError(f"quarantine file {path}: entry {i} needs a nodeid string")
        if not isinstance(expires, date):
            raise UsageError(
                f"quarantine file {path}: entry {i} ({nodeid}) needs an expires date, "
                "e.g. expires = 2026-12-31"
            )
        since = table.get("quarantined_on")
        rate = table.get("flake_rate")
        result.append(
            Entry(
                nodeid=nodeid,
                reason=str(table.get("reason") or "quarantined"),
                quarantined_on=since if isinstance(since, date) else expires,
                expires=expires,
                flake_rate=float(rate) if isinstance(rate, int | float) else None,
                signature=str(table["signature"]) if table.get("signature") else None,
            )
        )
    return result


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, but for DEL)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
