"""`stability quarantine`: write the quarantine file from the history's verdicts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from stability.cli.report import RATE, _db, _scope, _scope_options


@click.command("quarantine")
@_scope_options
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
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def quarantine(
    db: Path | None,
    session: str | None,
    label: str | None,
    since: str | None,
    commit: str | None,
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
    from stability import quarantine as q
    from stability.analysis.stats import format_rate
    from stability.report.build import ReportOptions, build_report

    data = build_report(
        _db(db), _scope(session, label, since, commit), ReportOptions(target=target)
    )
    today = date.today()
    entries = q.entries_from_report(data.tests, today=today, days=days, target=target)
    header = f"Written on {today} from {data.scope} (target {format_rate(target)})."
    q.write(out, entries, header)
    if as_json:
        click.echo(
            json.dumps(
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
                },
                indent=2,
            )
        )
        return
    for e in entries:
        click.echo(f"quarantined {e.nodeid} until {e.expires}: {e.reason}")
    click.echo(f"{out}: {len(entries)} test(s) quarantined ({data.scope})")


def register(main: click.Group) -> None:
    main.add_command(quarantine)
