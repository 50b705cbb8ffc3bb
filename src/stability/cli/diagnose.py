"""`stability diagnose`: a thin click layer over `stability.runner.diagnose`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stability.cli._options import SECONDS, db_option, json_option, print_json


@click.command("diagnose")
@click.argument("nodeid")
@click.option("--session", default=None, help="The session whose failing order to replay.")
@db_option
@click.option(
    "--max-probes",
    type=click.IntRange(min=2),
    default=40,
    show_default=True,
    help="At most this many probes (fresh pytest processes).",
)
@click.option(
    "--timeout",
    type=SECONDS,
    metavar="SECONDS",
    default=None,
    help="Kill a probe that runs longer than this.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@json_option("the diagnosis")
def diagnose(
    nodeid: str,
    session: str | None,
    db: Path | None,
    max_probes: int,
    timeout: float | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Find the test(s) that, run before NODEID, make it fail.

    Replays the tests that ran before NODEID in a repetition where it failed (the
    session's latest such repetition; by default the latest session where it failed),
    in fresh pytest processes with fresh containers, and narrows them down to the
    smallest failing order. Prints it as a plain pytest command, and one that passes
    without the polluter. Probes are stored under a session labelled `diagnose`; the
    finding shows in the diagnosed session's report.
    """
    from stability.report.json_report import diagnosis_json
    from stability.runner.diagnose import DiagnoseOptions
    from stability.runner.diagnose import diagnose as run_diagnosis
    from stability.store.db import resolve_db_path

    def progress(line: str) -> None:
        if not quiet:
            click.echo(line, file=sys.stderr)

    options = DiagnoseOptions(
        nodeid=nodeid,
        db=resolve_db_path(db),
        session=session,
        max_probes=max_probes,
        timeout=timeout,
    )
    result = run_diagnosis(options, progress)
    d = result.diagnosis
    if as_json:
        print_json(
            {
                "nodeid": d.nodeid,
                **diagnosis_json(d),
                "repetition": result.repetition,
                "tests_before": result.order_length,
                "summary": result.summary,
            }
        )
        return
    click.echo(f"{d.nodeid}: {result.summary}")
    if d.failing_order:
        click.echo(f"smallest failing order: {' '.join(d.failing_order)}")
    if d.failing_command:
        click.echo(f"fails:  {d.failing_command}")
    if d.passing_command:
        click.echo(f"passes: {d.passing_command}")
    click.echo(
        f"{d.probes} probes (session {d.probe_session}, label diagnose); "
        f"see `stability report --session {d.session_id}`"
    )
