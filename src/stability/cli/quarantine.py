"""`stability quarantine`: write the quarantine file from the history's verdicts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from stability.cli._options import RATE, ScopeArgs, json_option, print_json, scope_options


@click.command("quarantine")
@scope_options
@click.option(
    "--target",
    type=RATE,
    default="1%",
    show_default=True,
    help="Flake-rate target: tests whose rate is proven over it are quarantined.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1, max=3650),
    default=14,
    show_default=True,
    help="Days until each entry expires.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("quarantine.toml"),
    show_default=True,
    help="The quarantine file to write (replaced only if this command wrote it).",
)
@json_option("the entries")
def quarantine(
    db: Path | None,
    scope: ScopeArgs,
    target: float,
    days: int,
    out: Path,
    as_json: bool,
) -> None:
    """Write the flaky tests that violate the target to a quarantine file.

    Only flaky tests (both passed and failed) whose 95% interval lies above the target:
    a broken test is a bug to fix, never quarantined. The pytest plugin honours the file
    (`pytest --stability-quarantine FILE` or `[tool.stability] quarantine`): those tests
    still run, but their failures do not fail the session until the entry expires.
    """
    from stability.ci import quarantine as q
    from stability.report._format import pct as format_rate
    from stability.report.build import ReportOptions, build_report
    from stability.store.db import resolve_db_path

    data = build_report(resolve_db_path(db), scope.scope(), ReportOptions(target=target))
    today = date.today()
    entries = q.entries_from_report(data.tests, today=today, days=days, target=target)
    header = f"Written on {today} from {data.scope} (target {format_rate(target)})."
    q.write(out, entries, header)
    if as_json:
        print_json(
            {
                "out": str(out),
                "entries": [
                    {
                        "nodeid": e.nodeid,
                        "reason": e.reason,
                        "flake_rate": e.flake_rate,
                        "expires": e.expires.isoformat(),
                    }
                    for e in entries
                ],
            }
        )
        return
    for e in entries:
        click.echo(f"quarantined {e.nodeid} until {e.expires}: {e.reason}")
    click.echo(f"{out}: {len(entries)} test(s) quarantined ({data.scope})")
