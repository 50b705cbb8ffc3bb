"""`stability containers ...`: the containers this tool started."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from stability.cli._options import json_option, not_empty, print_json

if TYPE_CHECKING:
    from stability.containers.cleanup import ManagedContainer


@click.group()
def containers() -> None:
    """List or remove containers started by pytest-stability."""


@containers.command("list")
@click.option(
    "--session",
    default=None,
    callback=not_empty,
    help="Only containers of this stability session.",
)
@json_option("the containers")
def list_(session: str | None, as_json: bool) -> None:
    """Containers started by pytest-stability that still exist."""
    from stability.containers.cleanup import list_managed

    found = list_managed(session=session)
    if as_json:
        print_json(found)
        return
    for c in found:
        owner = f"pid {c.owner_pid}" if c.owner_pid else "owner unknown"
        click.echo(
            f"{c.short_id} {c.service:8} {c.status:8} {c.image} session={c.session or '-'} "
            f"repetition={c.repetition or '-'} {owner}"
        )
    click.echo(f"{len(found)} container(s)")


@containers.command("prune")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also remove containers whose owning process is still alive.",
)
@click.option(
    "--session",
    default=None,
    callback=not_empty,
    help="Only containers of this stability session.",
)
@json_option("the removed containers")
def prune(everything: bool, session: str | None, as_json: bool) -> None:
    """Remove leftover containers (by default those whose pytest process is gone)."""
    from stability.containers.cleanup import prune_containers
    from stability.exceptions import ContainerRemovalError

    try:
        removed = prune_containers(only_orphans=not everything, session=session)
    except ContainerRemovalError as exc:
        _show_removed(exc.removed, as_json)  # then the refusal, on stderr
        raise
    _show_removed(removed, as_json)


def _show_removed(removed: Sequence[ManagedContainer], as_json: bool) -> None:
    if as_json:
        print_json(removed)
        return
    for c in removed:
        click.echo(f"removed {c.short_id} {c.service} ({c.image}) session={c.session or '-'}")
    click.echo(f"{len(removed)} container(s) removed")
