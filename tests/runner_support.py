"""Helpers shared by the `stability run` tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stability.cli import main


def invoke(*args: str) -> Result:
    """`stability run ARGS` in-process, exceptions not swallowed."""
    return CliRunner().invoke(main, ["run", *args], catch_exceptions=False)


def probe_file(project: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> Path:
    """Write test file `name` (a probe that appends what its repetition sees to the file
    $PROBE_OUT) and point PROBE_OUT outside the project: where to read its lines."""
    (project / name).write_text(source)
    out = project.parent / f"probe-{project.name}-{Path(name).stem}.txt"
    monkeypatch.setenv("PROBE_OUT", str(out))
    return out
