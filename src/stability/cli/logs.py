"""`stability logs`: the container logs kept for a repetition with a failure."""

from __future__ import annotations

import json
from pathlib import Path

import click

from stability.cli._checks import file_path, not_empty


def register(main: click.Group) -> None:
    main.add_command(logs)


@click.command("logs")
@click.argument("session", callback=not_empty)
@click.argument("repetition", type=click.IntRange(min=1))
@click.option(
    "--service",
    type=click.Choice(["postgres", "redis"]),
    default=None,
    help="Only this service's logs.",
)
@click.option(
    "--db",
    default=None,
    callback=file_path,
    metavar="FILE",
    help="History file [default: $STABILITY_DB or .stability/history.duckdb].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the logs as JSON.")
def logs(
    session: str, repetition: int, service: str | None, db: Path | None, as_json: bool
) -> None:
    """Print the PostgreSQL/Redis logs of SESSION's REPETITION (id or unique prefix).

    Logs are kept for repetitions in which a test failed: the containers are removed
    when the repetition ends.
    """
    from stability.store.db import resolve_db_path
    from stability.store.queries.logs import container_logs

    session_id, found = container_logs(resolve_db_path(db), session, repetition, service)
    if as_json:
        payload = {
            "session": session_id,
            "repetition": repetition,
            "logs": [{"service": s, "logs": text} for s, text in found],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    for name, text in found:
        click.echo(f"==> {name} (session {session_id}, repetition {repetition}) <==")
        click.echo(text.rstrip("\n"))
