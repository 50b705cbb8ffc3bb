"""`stability run`: a thin click layer over `stability.runner`."""

from __future__ import annotations

import json
import sys

import click

from stability.exceptions import UsageError

EPILOG = """\b
Exit codes:
  0    every execution passed (skips and xfails are fine)
  1    some execution failed, errored, timed out or crashed
  2    bad usage or input (missing target, bad number, unusable database)
  3    infrastructure: Docker or a container failed and no test failed otherwise,
       so the numbers say nothing about the tests
  130  interrupted (Ctrl-C); completed repetitions are kept, --resume carries on
"""


def _positive_int(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{option} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise UsageError(f"{option} must be a positive integer, got {value!r}")
    return number


def _positive_float(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{option} must be a positive number of seconds, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise UsageError(f"{option} must be a positive number of seconds, got {value!r}")
    return number


def _seed(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise UsageError(f"--seed must be a whole number from 0 to 4294967295, got {value!r}")
    return int(value)


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
    "--repeat", "repeat", metavar="N", help="How many repetitions (fresh pytest processes) to run."
)
@click.option(
    "-j",
    "--jobs",
    "jobs",
    metavar="K",
    default="1",
    show_default=True,
    help="Repetitions at once, each with its own containers.",
)
@click.option(
    "--timeout",
    "timeout",
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
    metavar="S",
    help="Shuffle with seed S in repetition 1, S+1 in repetition 2, ... (implies --shuffle; "
    "--seed S --repeat 1 replays the order recorded with seed S).",
)
@click.option(
    "--in-process",
    "in_process",
    metavar="K",
    default="1",
    show_default=True,
    help="Run each test K times back to back in the same process (each run recorded with "
    "its attempt number).",
)
@click.option("--until-fail", is_flag=True, help="Stop at the first repetition with a failure.")
@click.option("--label", default=None, help="Tag the session (e.g. nightly).")
@click.option(
    "--db",
    "db",
    default=None,
    metavar="PATH",
    help="History file [default: $STABILITY_DB or .stability/history.duckdb].",
)
@click.option(
    "--resume",
    "resume",
    default=None,
    metavar="SESSION",
    help="Carry on a session to N, skipping its completed repetitions.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.pass_context
def run(
    ctx: click.Context,
    targets: tuple[str, ...],
    repeat: str | None,
    jobs: str,
    timeout: str | None,
    shuffle: bool,
    seed: str | None,
    in_process: str,
    until_fail: bool,
    label: str | None,
    db: str | None,
    resume: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run TARGETS (files, directories, node ids) N times, each in a fresh pytest process.

    Arguments after `--` go to pytest unchanged, e.g.
    `stability run tests/test_orders.py --repeat 100 -- -k checkout -n 2`.
    Every outcome and timing is stored in DuckDB; `stability report` reads it.
    """
    from stability.progress import make_progress, summary_lines
    from stability.runner import Campaign, RunOptions
    from stability.store.db import resolve_db_path

    pytest_args = list(ctx.meta.get("stability.pytest_args", []))
    n = _positive_int(repeat, "--repeat")
    if n is None and not resume:
        raise UsageError("--repeat N is required (how many repetitions to run)")
    options = RunOptions(
        targets=list(targets),
        repeat=n,
        jobs=_positive_int(jobs, "--jobs") or 1,
        timeout=_positive_float(timeout, "--timeout"),
        until_fail=until_fail,
        label=label,
        db=resolve_db_path(db),
        pytest_args=pytest_args,
        resume=resume,
        shuffle=shuffle,
        seed=_seed(seed),
        in_process=_positive_int(in_process, "--in-process") or 1,
    )
    progress = make_progress(quiet, sys.stderr)
    outcome = Campaign(options, progress).run()
    if as_json:
        click.echo(json.dumps(outcome.summary, indent=2, default=str))
    elif not quiet:
        out = sys.stderr if outcome.summary["status"] == "interrupted" else sys.stdout
        for line in summary_lines(outcome.summary):
            click.echo(line, file=out)
    ctx.exit(outcome.exit_code)


def register(main: click.Group) -> None:
    main.add_command(run)
