"""`stability report`, `check`, `sessions` and `show`: reading the history.

Thin commands over `stability.report` and `stability.check`. Exit codes: 0 fine,
1 `check` found tests over budget, 2 an error (no history, no session in scope, bad
option), as for every `stability` command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from stability.exceptions import StabilityError, UsageError

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("html", "json", "markdown", "text")


class RateParam(click.ParamType):  # type: ignore[type-arg]
    """`1%` or `0.01`."""

    name = "rate"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        from stability.analysis.stats import parse_rate

        try:
            return parse_rate(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


RATE = RateParam()


def _db_option(func: F) -> F:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="History file [default: $STABILITY_DB or .stability/history.duckdb].",
    )(func)


def _scope_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--session", default=None, help="One session (id or unique prefix)."),
            click.option("--label", default=None, help="Every session with this label."),
            click.option(
                "--since", default=None, help="Sessions started since: 7d, 12h, 2026-11-01."
            ),
            click.option("--commit", default=None, help="Sessions on this git commit (prefix)."),
        ]
    ):
        func = option(func)
    return _db_option(func)


def _target_options(func: F) -> F:
    func = click.option(
        "--slow-threshold",
        type=click.FloatRange(min=0, min_open=True),
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


def _scope(
    session: str | None,
    label: str | None,
    since: str | None,
    commit: str | None,
    *,
    every: bool = False,
) -> Any:
    from stability.store.queries import Scope, parse_since

    return Scope(
        session=session,
        label=label,
        since=parse_since(since) if since else None,
        commit=commit,
        every_session=every,
    )


def _db(path: Path | None) -> Path:
    from stability.store.db import resolve_db_path

    return resolve_db_path(path)


def _console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200, highlight=False, soft_wrap=False)


@click.command("report")
@_scope_options
@_target_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder for index.html (html) or report.json (json).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="html",
    show_default=True,
    help="html and json write into --out; markdown and text print.",
)
@click.option(
    "--startup-target",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Container start-up target in seconds.",
)
def report(
    db: Path | None,
    session: str | None,
    label: str | None,
    since: str | None,
    commit: str | None,
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
    data = build_report(_db(db), _scope(session, label, since, commit), options)
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
            from stability.report.html import write_html

            path = write_html(data, out_dir)
            click.echo(f"{path}: {_format.headline(data)}")
        else:
            from stability.report.json_report import write_json

            click.echo(str(write_json(data, out_dir)))
    except OSError as exc:
        raise StabilityError(f"cannot write the report into {out_dir}: {exc.strerror}") from None


@click.command("check")
@_scope_options
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
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Also fail tests whose call-phase p95 is over this many seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(
    ctx: click.Context,
    db: Path | None,
    session: str | None,
    label: str | None,
    since: str | None,
    commit: str | None,
    max_flake_rate: float,
    strict: bool,
    max_p95: float | None,
    as_json: bool,
) -> None:
    """Exit 1 when a test in scope is over the flake-rate budget (one line per test)."""
    from stability.analysis.stats import format_rate
    from stability.check import check_tests
    from stability.report.build import ReportOptions, build_report

    data = build_report(
        _db(db), _scope(session, label, since, commit), ReportOptions(target=max_flake_rate)
    )
    result = check_tests(
        data.tests, max_flake_rate=max_flake_rate, strict=strict, max_p95_s=max_p95
    )
    if as_json:
        from stability.report.json_report import cause_json, dumps

        causes = {t.nodeid: cause_json(t) for t in data.tests if t.cause is not None}
        click.echo(
            dumps(
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
        )
    else:
        for offence in result.offences:
            click.echo(f"FAIL {offence.line}")
        budget = f"{'proven ' if strict else ''}under {format_rate(max_flake_rate)}"
        if max_p95 is not None:
            budget += f", call p95 under {max_p95:g} s"
        tests = len({o.nodeid for o in result.offences})
        verdict = "ok" if result.ok else f"{tests} test(s) over budget"
        click.echo(
            f"stability check: {verdict} ({result.checked} tests judged, {budget}; {data.scope})"
        )
        if data.suite.infra_executions:
            click.echo(f"note: {data.suite.infra_executions} infra executions left out", err=True)
    ctx.exit(0 if result.ok else 1)


@click.command("sessions")
@_db_option
@click.option("--label", default=None, help="Only sessions with this label.")
@click.option("--since", default=None, help="Only sessions started since: 7d, 2026-11-01.")
@click.option("--commit", default=None, help="Only sessions on this git commit (prefix).")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many, newest first (0: all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
def sessions(
    db: Path | None,
    label: str | None,
    since: str | None,
    commit: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List the recorded sessions, newest first."""
    from stability.report import _format as f
    from stability.report.json_report import dumps, session_json
    from stability.store import queries
    from stability.store.db import connect

    with connect(_db(db), write=False) as conn:
        rows = queries.list_sessions(
            conn,
            label=label,
            since=queries.parse_since(since) if since else None,
            commit=commit,
            limit=limit or None,
        )
    if as_json:
        click.echo(dumps([session_json(s) for s in rows]))
        return
    if not rows:
        raise UsageError("no sessions match: run `stability run` first, or widen the filters")
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for name in (
        "Session",
        "Started",
        "Label",
        "Commit",
        "Status",
        "Reps",
        "Red",
        "Tests",
        "Executions",
    ):
        table.add_column(name)
    for s in rows:
        decided = s.repetitions - s.infra_repetitions
        red = (
            f"{s.failed_repetitions} ({f.pct(s.failed_repetitions / decided)})" if decided else "–"
        )
        table.add_row(
            Text(s.id),
            f"{s.started_at:%Y-%m-%d %H:%M}",
            Text(s.label or ""),
            Text((s.git_commit or "")[:10]),
            Text(s.status or ""),
            f"{s.repetitions}/{s.repeat}",
            red,
            str(s.tests),
            f"{s.executions:,}",
        )
    _console().print(table)


@click.command("show")
@click.argument("nodeid")
@_scope_options
@_target_options
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
def show(
    nodeid: str,
    db: Path | None,
    session: str | None,
    label: str | None,
    since: str | None,
    commit: str | None,
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
        _scope(session, label, since, commit, every=True),
        target=target,
        slow_threshold_s=slow_threshold,
    )
    if as_json:
        from stability.report.json_report import dumps

        click.echo(dumps(history_json(history)))
    else:
        render_history(history, _console())


def register(main: click.Group) -> None:
    for command in (report, check, sessions, show):
        main.add_command(command)
