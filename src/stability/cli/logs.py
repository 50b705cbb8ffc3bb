"""`stability logs`: the container logs kept for a repetition with a failure."""

from __future__ import annotations

from pathlib import Path

import click

from stability.cli._options import db_option, json_option, not_empty, print_json


@click.command("logs")
@click.argument("session", callback=not_empty)
@click.argument("repetition", type=click.IntRange(min=1))
@click.option(
    "--service",
    type=click.Choice(["postgres", "redis"]),
    default=None,
    help="Only this service's logs.",
)
@db_option
@json_option("the logs")
def logs(
    session: str, repetition: int, service: str | None, db: Path | None, as_json: bool
) -> None:
    """Print the PostgreSQL/Redis logs of SESSION's REPETITION (id or unique prefix).

    Logs are kept for repetitions in which a test failed: the containers are removed
    when the repetition ends.
    """
    from stability.store.db import connect, resolve_db_path
    from stability.store.queries.logs import container_logs

    with connect(resolve_db_path(db), "read") as conn:
        session_id, found = container_logs(conn, session, repetition, service)
    if as_json:
        payload = {
            "session": session_id,
            "repetition": repetition,
            "logs": [{"service": s, "logs": text} for s, text in found],
        }
        print_json(payload)
        return
    for name, text in found:
        click.echo(f"==> {name} (session {session_id}, repetition {repetition}) <==")
        click.echo(text.rstrip("\n"))
