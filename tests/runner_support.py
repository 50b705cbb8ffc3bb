"""Helpers shared by the `stability run` tests."""

from __future__ import annotations

from click.testing import CliRunner, Result

from stability.cli import main


def invoke(*args: str) -> Result:
    """`stability run ARGS` in-process, exceptions not swallowed."""
    return CliRunner().invoke(main, ["run", *args], catch_exceptions=False)
