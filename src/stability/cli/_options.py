"""What the commands share: value types, option decorators and the JSON printer.

Values are checked here, by click, so a bad one is a usage error naming its flag; the
library below takes checked values and names no flag.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from stability.since import parse_since

if TYPE_CHECKING:
    from stability.store.queries import Scope

F = TypeVar("F", bound=Callable[..., Any])


class RateType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 on
    """A rate strictly between 0 and 1: `1%` or `0.01`."""

    name = "rate"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        raw = str(value).strip()
        try:
            rate = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        except ValueError:
            self.fail(f"not a rate: {value!r} (write 1% or 0.01)", param, ctx)
        if not 0.0 < rate < 1.0:
            self.fail(f"a rate must be between 0 and 100% (exclusive), got {value!r}", param, ctx)
        return rate


class SinceType(click.ParamType):  # type: ignore[type-arg]
    """`7d`, `12h`, `30m`, `45s`, `2w` back from now, or an ISO date / date-time (UTC if naive)."""

    name = "since"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        if not str(value).strip():
            self.fail("must not be empty", param, ctx)
        try:
            return parse_since(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SecondsType(click.FloatRange):
    """A finite number of seconds over zero."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        seconds = float(super().convert(value, param, ctx))
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return seconds


class _CheckedText(click.ParamType):  # type: ignore[type-arg]
    """A value the library parses; its ValueError becomes this option's usage error."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self.parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # already converted (a default, or a second pass)
        try:
            return self.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _shard(text: str) -> Any:
    from stability.runner.shards import parse_shard

    return parse_shard(text)


def _session_id(text: str) -> str:
    from stability.runner.shards import check_session_id

    return check_session_id(text)


RATE = RateType()
SHARD = _CheckedText("shard", _shard)
SESSION_ID = _CheckedText("session id", _session_id)
SINCE = SinceType()
SECONDS = SecondsType()


def not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A value given as "" (or blank) is a mistake, not "no filter": say so."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return value


def _db_path(ctx: click.Context, param: click.Parameter, value: Any) -> Path | None:
    # not click.Path: it would turn "" into the working folder
    value = not_empty(ctx, param, value)
    return None if value is None else Path(value)


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db",
        default=None,
        callback=_db_path,
        metavar="PATH",
        help="History file [default: $STABILITY_DB or .stability/history.duckdb].",
    )(func)


def filter_options(func: F) -> F:
    """--label, --since and --commit: every session matching all of them."""
    for option in reversed(
        [
            click.option(
                "--label", default=None, callback=not_empty, help="Sessions with this label."
            ),
            click.option(
                "--since",
                type=SINCE,
                default=None,
                metavar="WHEN",
                help="Sessions started since: 7d, 12h, 2026-11-01.",
            ),
            click.option(
                "--commit",
                default=None,
                callback=not_empty,
                help="Sessions on this git commit (prefix).",
            ),
        ]
    ):
        func = option(func)
    return func


@dataclasses.dataclass(frozen=True)
class ScopeArgs:
    """--session, --label, --since, --commit and --pool-all as given."""

    session: str | None = None
    label: str | None = None
    since: datetime | None = None
    commit: str | None = None
    pool_all: bool = False

    def scope(self, *, every: bool = False) -> Scope:
        """The scope they name (`every`: no option means every session, not the last)."""
        from stability.store.queries import Scope

        if self.session is not None and (self.label or self.since or self.commit):
            raise click.UsageError(
                "--session picks one session: drop --label, --since and --commit"
            )
        return Scope(
            session=self.session,
            label=self.label,
            since=self.since,
            commit=self.commit,
            every_session=every,
            pool_all=self.pool_all,
        )


def scope_options(func: F) -> F:
    """--db, --session, the filters and --pool-all; the command gets `db` and `scope`
    (ScopeArgs)."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        kwargs["scope"] = ScopeArgs(
            *(kwargs.pop(k) for k in ("session", "label", "since", "commit", "pool_all"))
        )
        return func(*args, **kwargs)

    wrapped = click.option(
        "--pool-all",
        is_flag=True,
        help="Pool every session in scope; by default only those run with the newest one's "
        "pytest arguments and order options.",
    )(command)
    wrapped = filter_options(wrapped)
    wrapped = click.option(
        "--session", default=None, callback=not_empty, help="One session (id or unique prefix)."
    )(wrapped)
    return cast(F, db_option(wrapped))


def json_option(what: str) -> Callable[[F], F]:
    """`--json`: print `what` as JSON instead of text (the value is `as_json`)."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON.")


def print_json(data: Any) -> None:
    """The one JSON printer of every command: indented, UTF-8, dataclasses as objects."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=_plain))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)
