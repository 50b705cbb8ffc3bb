"""Click callbacks shared by the commands: input that would be silently ignored is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An option given as "" (or blank) is a mistake, not "no filter": say so."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return value


def file_path(ctx: click.Context, param: click.Parameter, value: Any) -> Path | None:
    """A `--db FILE`: not empty (click's Path would turn "" into the working folder)."""
    value = not_empty(ctx, param, value)
    return None if value is None else Path(value)
