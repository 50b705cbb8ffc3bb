"""`stability merge`: a thin click layer over `stability.store.merge`."""

from __future__ import annotations

from pathlib import Path

import click

from stability.cli._options import json_option, print_json


@click.command("merge")
@click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--into",
    "into",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The history to merge into (created if missing).",
)
@json_option("the result")
def merge(sources: tuple[Path, ...], into: Path, as_json: bool) -> None:
    """Merge history files (SOURCES) into one: the shards of a session become one session.

    Repetitions already in the target are skipped, so merging a file again adds
    nothing. Files that disagree about a session (label, targets, N, commit, options)
    are refused; the merge is one transaction, so a failed or killed merge leaves the
    target as it was.
    """
    from stability.store.merge import merge_histories

    result = merge_histories(list(sources), into)
    if as_json:
        print_json(result)
        return
    click.echo(
        f"merged {len(result.sources)} file(s) into {result.into}: "
        f"{result.sessions_added} new session(s), {result.sessions_joined} joined, "
        f"{result.repetitions_added} repetitions and {result.executions_added} executions "
        f"added, {result.repetitions_skipped} repetitions already there"
    )
