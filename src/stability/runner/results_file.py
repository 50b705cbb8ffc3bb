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

MAX_MESSAGE = 2000
MAX_TRACEBACK = 8000
MAX_OUTPUT = 8000

# Set by the runner: a repetition whose runner died stops instead of lingering.
RUNNER_PID_ENV = "STABILITY_RUNNER_PID"
# When the runner started (labels.process_started): our containers carry it as their
# owner's, even those created after the runner died, so its reaper finds them.
RUNNER_STARTED_ENV = "STABILITY_RUNNER_STARTED"
# Set by the recording pytest process (for its xdist workers, which check it is their
# parent) and by each recording worker: a pytest run inline in a process that records
# already finds its own pid there.
RECORDER_PID_ENV = "STABILITY_RECORDER_PID"


def bounded(text: str | None, limit: int, *, tail: bool = False) -> str | None:
    """`text` cut to `limit` characters (keeping the head, or with `tail` the end)."""
    if text is None or len(text) <= limit:
        return text
    marker = "\n[... cut ...]\n"
    keep = max(limit - len(marker), 0)
    return marker + text[-keep:] if tail else text[:keep] + marker


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
