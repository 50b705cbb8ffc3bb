"""`stability run`: a thin click layer over `stability.runner.campaign`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stability.cli._options import (
    SECONDS,
    SESSION_ID,
    SHARD,
    db_option,
    json_option,
    not_empty,
    print_json,
)
from stability.exceptions import UsageError
from stability.runner.limits import MAX_JOBS, MAX_REPEAT

if TYPE_CHECKING:
    from stability.runner.shards import Shard

EPILOG = """\b
Exit codes:
  0    every execution passed (skips and xfails are fine)
  1    some execution failed, errored, timed out or crashed
  2    bad usage or input (missing target, bad number, unusable database)
  3    infrastructure: every repetition hit a Docker or container failure (one that
       failed to start, died, ran out of memory or restarted, or an engine that went
       away), so the numbers say nothing about the tests
  130  interrupted (Ctrl-C); completed repetitions are kept, --resume carries on
  143  stopped by SIGTERM; the same
"""


class _RunCommand(click.Command):
    """Keeps everything after `--` for pytest instead of treating it as targets."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["stability.pytest_args"] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)


@click.command(
    "run",
    cls=_RunCommand,
    epilog=EPILOG,
    context_settings={"ignore_unknown_options": False, "allow_interspersed_args": True},
)
@click.argument("targets", nargs=-1)
@click.option(
    "--repeat",
    "repeat",
    type=click.IntRange(min=1, max=MAX_REPEAT),
    metavar="N",
    help="How many repetitions (fresh pytest processes) to run.",
)
@click.option(
    "-j",
    "--jobs",
    "jobs",
    type=click.IntRange(min=1, max=MAX_JOBS),
    metavar="K",
    default=1,
    show_default=True,
    help="Repetitions at once, each with its own containers.",
)
@click.option(
    "--timeout",
    "timeout",
    type=SECONDS,
    metavar="SECONDS",
    help="Kill a repetition that runs longer; its running test is recorded as timeout.",
)
@click.option(
    "--shuffle",
    is_flag=True,
    help="Run each repetition in its own random order of the tests (its seed is recorded).",
)
@click.option(
    "--seed",
    "seed",
    type=click.IntRange(0, 2**32 - 1),
    metavar="S",
    help="Shuffle with seed S in repetition 1, S+1 in repetition 2, ... (implies --shuffle; "
    "--seed S --repeat 1 replays the order recorded with seed S).",
)
@click.option(
    "--in-process",
    "in_process",
    type=click.IntRange(min=1),
    metavar="K",
    default=1,
    show_default=True,
    help="Run each test K times back to back in the same process (each run recorded with "
    "its attempt number).",
)
@click.option(
    "--pool/--no-pool",
    "pool",
    default=True,
    show_default=True,
    help="Start the next repetitions' containers while earlier ones run (each repetition "
    "still gets containers no other touched).",
)
@click.option(
    "--prestart/--no-prestart",
    "prestart",
    default=True,
    show_default=True,
    help="Start the next repetitions' pytest processes while earlier ones run (each "
    "imports pytest and our drivers ahead, and nothing of the project).",
)
@click.option("--until-fail", is_flag=True, help="Stop at the first repetition with a failure.")
@click.option("--label", default=None, callback=not_empty, help="Tag the session (e.g. nightly).")
@db_option
@click.option(
    "--resume",
    "resume",
    default=None,
    callback=not_empty,
    metavar="SESSION",
    help="Carry on a session to N, skipping its completed repetitions.",
)
@click.option(
    "--shard",
    "shard",
    type=SHARD,
    default=None,
    metavar="I/N",
    help="Run only shard I of N of the repetitions (numbers r with (r-1) % N == I-1); "
    "needs --session-id.",
)
@click.option(
    "--session-id",
    "session_id",
    type=SESSION_ID,
    default=None,
    metavar="ID",
    help="The session's id (the same for every shard, e.g. the CI run's id).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
@json_option("the run summary")
@click.pass_context
def run(
    ctx: click.Context,
    targets: tuple[str, ...],
    repeat: int | None,
    jobs: int,
    timeout: float | None,
    shuffle: bool,
    seed: int | None,
    in_process: int,
    pool: bool,
    prestart: bool,
    until_fail: bool,
    label: str | None,
    db: Path | None,
    resume: str | None,
    shard: Shard | None,
    session_id: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run TARGETS (files, directories, node ids) N times, each in a fresh pytest process.

    Arguments after `--` go to pytest unchanged, e.g.
    `stability run tests/test_orders.py --repeat 100 -- -k checkout -n 2`.
    Every outcome and timing is stored in DuckDB; `stability report` reads it.
    """
    from stability.runner.campaign import Campaign, RunOptions
    from stability.runner.progress import make_progress, summary_lines
    from stability.store.db import resolve_db_path

    pytest_args = list(ctx.meta.get("stability.pytest_args", []))
    if repeat is None and not resume:
        raise UsageError("--repeat N is required (how many repetitions to run)")
    if resume and targets:
        raise UsageError(
            "--resume carries on a stored session with its own targets: give no targets"
        )
    if shard and not session_id and not resume:
        raise UsageError(
            "--shard needs --session-id ID, the same for every shard, so that "
            "`stability merge` can join them into one session"
        )
    if shard and repeat and not resume and shard.index > repeat:  # its share is empty
        raise UsageError(
            f"--shard {shard} gets no repetition of --repeat {repeat}: "
            "use at most as many shards as repetitions"
        )
    options = RunOptions(
        targets=list(targets),
        repeat=repeat,
        jobs=jobs,
        timeout=timeout,
        until_fail=until_fail,
        label=label,
        db=resolve_db_path(db),
        pytest_args=pytest_args,
        resume=resume,
        shard=shard,
        session_id=session_id,
        shuffle=shuffle,
        seed=seed,
        in_process=in_process,
        pool=pool,
        prestart=prestart,
    )
    progress = make_progress(quiet, sys.stderr)
    outcome = Campaign(options, progress).run()
    if as_json:
        print_json(outcome.summary)
    elif not quiet:
        out = sys.stderr if outcome.summary["status"] == "interrupted" else sys.stdout
        for line in summary_lines(outcome.summary):
            click.echo(line, file=out)
    ctx.exit(outcome.exit_code)
