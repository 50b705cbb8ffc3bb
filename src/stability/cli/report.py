"""`stability report`, `check`, `sessions` and `show`: reading the history.

Thin commands over `stability.report` and `stability.analysis.check`. Exit codes: 0 fine,
1 `check` found tests over budget, 2 an error (no history, no session in scope, bad
option), as for every `stability` command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stability.cli._options import (
    RATE,
    SECONDS,
    ScopeArgs,
    db_option,
    filter_options,
    json_option,
    not_empty,
    print_json,
    scope_options,
)
from stability.exceptions import StabilityError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("html", "json", "junit", "markdown", "text")


def _target_options(func: F) -> F:
    func = click.option(
        "--slow-threshold",
        type=SECONDS,
        default=1.0,
        show_default=True,
        help="A test is slow when its call p95 is over this many seconds.",
    )(func)
    return click.option(
        "--target",
        type=RATE,
        default="1%",
        show_default=True,
        help="Flake-rate target for the verdicts (1% or 0.01).",
    )(func)


def _db(path: Path | None) -> Path:
    from stability.store.db import resolve_db_path

    return resolve_db_path(path)


def _console() -> Console:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200, highlight=False, soft_wrap=False)


@click.command("report")
@scope_options
@_target_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder for index.html (html), report.json (json) or junit.xml (junit).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="html",
    show_default=True,
    help="html, json and junit write into --out; markdown and text print.",
)
@click.option(
    "--startup-target",
    type=SECONDS,
    default=30.0,
    show_default=True,
    help="Container start-up target in seconds.",
)
def report(
    db: Path | None,
    scope: ScopeArgs,
    target: float,
    slow_threshold: float,
    out_dir: Path,
    fmt: str,
    startup_target: float,
) -> None:
    """Analyse the last session (or a scope) and write or print the report.

    Scope: the last session by default; --session picks one; --label, --since and
    --commit together pick every session matching all of them.
    """
    from stability.report.build import ReportOptions, build_report

    options = ReportOptions(
        target=target,
        slow_threshold_s=slow_threshold,
        startup_target_s=startup_target,
        charts=fmt == "html",
    )
    data = build_report(_db(db), scope.scope(), options)
    if fmt == "markdown":
        from stability.report.markdown import render_markdown

        click.echo(render_markdown(data))
        return
    if fmt == "text":
        from stability.report.text import render_text

        render_text(data, _console())
        return
    try:
        if fmt == "html":
            from stability.report import _format
            from stability.report.page import write_html

            path = write_html(data, out_dir)
            click.echo(f"{path}: {_format.headline(data)}")
        elif fmt == "junit":
            from stability.report.junit import write_junit

            click.echo(str(write_junit(data, out_dir)))
        else:
            from stability.report.json_report import write_json

            click.echo(str(write_json(data, out_dir)))
    except OSError as exc:
        raise StabilityError(f"cannot write the report into {out_dir}: {exc.strerror}") from None


@click.command("check")
@scope_options
@click.option(
    "--max-flake-rate",
    type=RATE,
    default="1%",
    show_default=True,
    help="Budget per test: 1% or 0.01.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Judge by the 95% interval's upper bound: each test must be proven within budget.",
)
@click.option(
    "--max-p95",
    type=SECONDS,
    default=None,
    help="Also fail tests whose call-phase p95 is over this many seconds.",
)
@json_option("the result")
@click.pass_context
def check(
    ctx: click.Context,
    db: Path | None,
    scope: ScopeArgs,
    max_flake_rate: float,
    strict: bool,
    max_p95: float | None,
    as_json: bool,
) -> None:
    """Exit 1 when a test in scope is over the flake-rate budget (one line per test)."""
    from stability.analysis.check import check_tests
    from stability.report._format import pct
    from stability.report.build import ReportOptions, build_report

    data = build_report(_db(db), scope.scope(), ReportOptions(target=max_flake_rate))
    result = check_tests(
        data.tests, max_flake_rate=max_flake_rate, strict=strict, max_p95_s=max_p95
    )
    if as_json:
        from stability.report.json_report import cause_json

        causes = {t.nodeid: cause_json(t) for t in data.tests if t.cause is not None}
        print_json(
            {
                "ok": result.ok,
                "scope": data.scope,
                "sessions": [s.id for s in data.sessions],
                "max_flake_rate": max_flake_rate,
                "strict": strict,
                "max_p95_s": max_p95,
                "checked": result.checked,
                "offences": [
                    {
                        "nodeid": o.nodeid,
                        "reason": o.reason,
                        "value": o.value,
                        "limit": o.limit,
                        "cause": causes.get(o.nodeid, {}).get("cause"),
                        "polluters": causes.get(o.nodeid, {}).get("polluters", []),
                    }
                    for o in result.offences
                ],
                "causes": causes,
            }
        )
    else:
        from stability.analysis.check import unproven_passes
        from stability.report._format import plural

        for offence in result.offences:
            click.echo(f"FAIL {offence.line}")
        rule = (
            f"95% upper bound under {pct(max_flake_rate)}"
            if strict
            else f"flake rate (point estimate) at most {pct(max_flake_rate)}"
        )
        if max_p95 is not None:
            rule += f", call p95 under {max_p95:g} s"
        tests = len({o.nodeid for o in result.offences})
        verdict = "ok" if result.ok else f"{plural(tests, 'test')} over budget"
        click.echo(
            f"stability check: {verdict} ({plural(result.checked, 'test')} judged by {rule}; "
            f"{data.scope})"
        )
        if unproven := unproven_passes(data.tests, result):
            click.echo(
                f"note: {plural(unproven, 'test')} within budget by the point estimate but "
                "not proven (report verdict unproven or violates); --strict judges by the "
                "interval",
                err=True,
            )
        s = data.suite
        if s.infra_executions:
            click.echo(f"note: {plural(s.infra_executions, 'infra execution')} left out", err=True)
        if s.environment_executions:
            click.echo(
                f"note: {plural(s.environment_executions, 'environment failure')} (network, "
                "name resolution) left out",
                err=True,
            )
    ctx.exit(0 if result.ok else 1)


@click.command("sessions")
@db_option
@filter_options
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many, newest first (0: all).",
)
@json_option("the sessions")
def sessions(
    db: Path | None,
    label: str | None,
    since: datetime | None,
    commit: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List the recorded sessions, newest first."""
    from stability.report.json_report import session_json
    from stability.report.text import render_sessions
    from stability.store import queries
    from stability.store.db import connect

    with connect(_db(db), "read") as conn:
        rows = queries.list_sessions(
            conn, label=label, since=since, commit=commit, limit=limit or None
        )
    if as_json:
        print_json([session_json(s, counted=True) for s in rows])
        return
    if not rows:
        raise UsageError("no sessions match: run `stability run` first, or widen the filters")
    render_sessions(rows, _console())


@click.command("show")
@click.argument("nodeid", callback=not_empty)
@scope_options
@_target_options
@json_option("the history")
def show(
    nodeid: str,
    db: Path | None,
    scope: ScopeArgs,
    target: float,
    slow_threshold: float,
    as_json: bool,
) -> None:
    """One test's history: per session, its failed repetitions and failure signatures.

    NODEID is the test id as pytest prints it, or a unique part of it. The scope is
    every session that ran it unless narrowed by the scope options.
    """
    from stability.report.history import build_history, history_json, render_history

    history = build_history(
        _db(db),
        nodeid,
        scope.scope(every=True),
        target=target,
        slow_threshold_s=slow_threshold,
    )
    if as_json:
        print_json(history_json(history))
    else:
        render_history(history, _console())
