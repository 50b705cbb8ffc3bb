"""`stability import junit`: a thin click layer over `stability.ci.junit_import`."""

from __future__ import annotations

from pathlib import Path

import click

from stability.cli._options import db_option, json_option, not_empty, print_json


@click.group("import")
def import_group() -> None:
    """Turn results other tools wrote into history."""


@click.command("junit")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--label", default=None, callback=not_empty, help="Tag the session (e.g. ci).")
@click.option(
    "--commit",
    default=None,
    callback=not_empty,
    metavar="SHA",
    help="The git commit the results are of.",
)
@db_option
@json_option("the result")
def junit(
    files: tuple[Path, ...], label: str | None, commit: str | None, db: Path | None, as_json: bool
) -> None:
    """Import JUnit XML FILES as one new session, each file one repetition.

    Node ids are rebuilt from pytest's classname, name and file attributes. Reruns
    (rerunFailure, flakyFailure, ...) count as executions: a retry that passed is a
    failure plus a pass. A batch with one bad file imports nothing.
    """
    from stability.ci.junit_import import ImportOptions, import_files
    from stability.runner.campaign import new_session_id
    from stability.store import ingest
    from stability.store.db import resolve_db_path

    path = resolve_db_path(db)
    session, repetitions = import_files(
        list(files), new_session_id(), ImportOptions(label=label, commit=commit)
    )
    ingest.import_session(path, session, repetitions)
    executions = sum(len(r.executions) for r in repetitions)
    tests = len({e.nodeid for r in repetitions for e in r.executions})
    if as_json:
        summary = {
            "session": session.id,
            "db": str(path),
            "repetitions": len(repetitions),
            "tests": tests,
            "executions": executions,
        }
        print_json(summary)
        return
    click.echo(
        f"imported {len(repetitions)} file(s) as session {session.id} into {path}: "
        f"{tests} tests, {executions} executions"
    )


import_group.add_command(junit)
