"""`stability diagnose`: a thin click layer over `stability.diagnose`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("diagnose")
@click.argument("nodeid")
@click.option("--session", default=None, help="The session whose failing order to replay.")
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History file [default: $STABILITY_DB or .stability/history.duckdb].",
)
@click.option(
    "--max-probes",
    type=click.IntRange(min=2),
    default=40,
    show_default=True,
    help="At most this many probes (fresh pytest processes).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Kill a probe that runs longer than this many seconds.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON.")
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
    from stability.diagnose import DiagnoseOptions
    from stability.diagnose import diagnose as run_diagnosis
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
        click.echo(
            json.dumps(
                {
                    "nodeid": d.nodeid,
                    "session": d.session_id,
                    "repetition": result.repetition,
                    "tests_before": result.order_length,
                    "verdict": d.verdict,
                    "polluters": list(d.polluters),
                    "failing_order": list(d.failing_order),
                    "failing_command": d.failing_command,
                    "passing_command": d.passing_command,
                    "probes": d.probes,
                    "probe_session": d.probe_session,
                    "summary": result.summary,
                },
                indent=2,
            )
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


def register(main: click.Group) -> None:
    main.add_command(diagnose)
