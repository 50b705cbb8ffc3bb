"""The `stability` command: a thin click layer over the library.

Each command group lives in its own module; this one wires them together and turns
every StabilityError into one line on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

from typing import Any

import click

from stability.cli import (
    containers,
    diagnose,
    images,
    importing,
    logs,
    merge,
    quarantine,
    report,
    run,
)
from stability.exceptions import StabilityError

__all__ = ["main"]


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StabilityError as exc:
            click.echo(f"stability: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:  # a subcommand's bad option: one line too
            where = exc.ctx.command_path if exc.ctx else "stability"
            click.echo(f"stability: error: {exc.format_message()} (see `{where} --help`)", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pytest-stability", prog_name="stability")
def main() -> None:
    """Find the flaky tests in container-backed integration suites.

    Repeat test files on fresh PostgreSQL and Redis containers (`run`), keep every
    outcome in DuckDB, then report flake rates against a target (`report`, `check`).
    """


for command in (
    run.run,
    report.report,
    report.check,
    report.sessions,
    report.show,
    logs.logs,
    merge.merge,
    importing.import_group,
    quarantine.quarantine,
    images.images,
    containers.containers,
    diagnose.diagnose,
):
    main.add_command(command)
