"""The small results files a repetition leaves for the runner to ingest.

`stability run` sets STABILITY_RESULTS_DIR for each repetition. Every process in it
(the pytest controller, xdist workers) appends JSON lines to its own file there, one
flushed line per event, so a killed process loses at most the line it was writing.
Only the runner reads these files and writes the database.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

RESULTS_DIR_ENV = "STABILITY_RESULTS_DIR"


def results_dir() -> Path | None:
    value = os.environ.get(RESULTS_DIR_ENV)
    return Path(value) if value else None


def recording() -> bool:
    """Whether this process writes results for `stability run`."""
    return results_dir() is not None


def append_record(kind: str, payload: dict[str, Any] | Any) -> None:
    """Append one event (a dict, or a record of `stability.records`) to this process's
    results file; a no-op outside the runner."""
    folder = results_dir()
    if folder is None:
        return
    data = payload if isinstance(payload, dict) else asdict(payload)
    line = json.dumps({"kind": kind, **data}, default=str)
    try:
        with open(folder / f"records-{os.getpid()}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
    except FileNotFoundError:  # the runner died and its folder was removed: no one reads it
        return


def read_records(folder: Path) -> list[dict[str, Any]]:
    """All events of a repetition; a torn last line (killed writer) is skipped."""
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob("records-*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
