"""The example CI workflows call `stability` with options that exist and parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from stability.cli import main

EXAMPLES = Path(__file__).parent.parent / "examples" / "github-actions"
SAMPLE = {
    "TARGETS": "tests/integration",
    "REPEAT": "100",
    "SHARDS": "4",
    "SESSION_ID": "nightly-1-1",
    "STABILITY_DB": "h.duckdb",
    "$files": "a.duckdb",
    "${{ matrix.shard }}": "2",
    "${{ inputs.repeat || '100' }}": "100",
}


def stability_commands(text: str) -> list[list[str]]:
    """Every `stability ...` command line in the workflow's shell steps."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        found = re.search(r"(?:^|[;|&]\s*|then\s+|run:\s+)(stability\s.*)$", line.strip())
        if not found:
            continue
        command = found.group(1)
        for name, value in SAMPLE.items():
            if name.isupper():  # an environment variable
                command = command.replace(f"${{{name}}}", value).replace(f"${name}", value)
            else:
                command = command.replace(name, value)
        command = re.split(r"\s*(?:>>|;|\|\||\s#)\s*", command)[0]
        commands.append(shlex.split(command)[1:])
    return commands


@pytest.mark.parametrize("workflow", ["nightly.yml", "sharded-nightly.yml"])
def test_every_stability_command_parses(workflow: str) -> None:
    commands = stability_commands((EXAMPLES / workflow).read_text())
    assert len(commands) >= 3
    for args in commands:
        # contexts chained from `stability`'s, as a real invocation builds them (a
        # parentless context would cache a help option without -h on the command)
        ctx = click.Context(main, info_name="stability", **main.context_settings)
        command: click.Command = main
        name = "stability"
        while isinstance(command, click.Group):
            name, *args = args
            found = command.get_command(ctx, name)
            assert found is not None, f"{workflow}: no command {name!r}"
            if isinstance(found, click.Group):
                ctx = click.Context(found, info_name=name, parent=ctx, **found.context_settings)
            command = found
        command.make_context(name, list(args), parent=ctx)  # raises on a bad option


def test_the_sharded_matrix_matches_the_shard_count() -> None:
    text = (EXAMPLES / "sharded-nightly.yml").read_text()
    shards = int(re.search(r'SHARDS: "(\d+)"', text).group(1))  # type: ignore[union-attr]
    matrix = re.search(r"shard: \[([\d, ]+)\]", text).group(1)  # type: ignore[union-attr]
    assert [int(n) for n in matrix.split(",")] == list(range(1, shards + 1))
