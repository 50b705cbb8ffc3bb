"""The CLI's value types and shared options: what a flag accepts, and its one-line refusal."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
import pytest
from click.testing import CliRunner

from stability.cli import main
from stability.cli._options import RATE, SECONDS, ScopeArgs, SinceType, print_json
from stability.report._format import pct
from stability.since import parse_since

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "value"), [("1%", 0.01), ("0.01", 0.01), (" 2.5 % ", 0.025)])
def test_rate_accepts_percent_or_fraction(text: str, value: float) -> None:
    assert math.isclose(RATE.convert(text, None, None), value)


@pytest.mark.parametrize("text", ["", "abc", "0", "0%", "100%", "1.5", "-1%", "nan", "nan%"])
def test_rate_refuses_what_is_not_strictly_between_0_and_1(text: str) -> None:
    with pytest.raises(click.BadParameter):
        RATE.convert(text, None, None)


@pytest.mark.parametrize(
    ("text", "delta"),
    [("7d", timedelta(days=7)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)),
     ("45s", timedelta(seconds=45)), ("2w", timedelta(weeks=2)), ("1.5d", timedelta(hours=36))],
)  # fmt: skip
def test_since_durations_count_back_from_now(text: str, delta: timedelta) -> None:
    assert parse_since(text, NOW) == NOW - delta


def test_since_dates_are_utc_unless_they_say_otherwise() -> None:
    since = SinceType()
    assert since.convert("2026-11-01", None, None) == datetime(2026, 11, 1, tzinfo=UTC)
    offset = since.convert("2026-11-01T02:00:00+02:00", None, None)
    assert offset == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["soon", "7x", "", "99999999999w"])
def test_since_refuses_what_is_neither_a_duration_nor_a_date(text: str) -> None:
    with pytest.raises(click.BadParameter):
        SinceType().convert(text, None, None)


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan", "soon"])
def test_seconds_are_finite_and_positive(text: str) -> None:
    with pytest.raises(click.BadParameter):
        SECONDS.convert(text, None, None)
    assert SECONDS.convert("0.5", None, None) == 0.5


def test_session_with_a_filter_is_a_usage_error() -> None:
    with pytest.raises(click.UsageError, match="--session picks one session"):
        ScopeArgs("2026", "nightly").scope()
    assert ScopeArgs("2026").scope().session == "2026"
    assert ScopeArgs(label="nightly").scope(every=True).every_session


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["report", "--since", "soon"], "'--since'"),
        (["report", "--target", "2"], "'--target'"),
        (["check", "--max-p95", "inf"], "'--max-p95'"),
        (["sessions", "--since", "yesterday"], "'--since'"),
        (["run", "t.py", "--repeat", "0"], "'--repeat'"),
        (["run", "t.py", "--repeat", "2", "--jobs", "0"], "'--jobs'"),
        (["run", "t.py", "--repeat", "2", "--timeout", "nan"], "'--timeout'"),
        (["run", "t.py", "--repeat", "2", "--shard", "2of4"], "'--shard'"),
        (["run", "t.py", "--repeat", "2", "--session-id", "../x"], "'--session-id'"),
        (["quarantine", "--target", "0"], "'--target'"),
        (["logs", "s", "0"], "'REPETITION'"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_flag(args: list[str], flag: str) -> None:
    result = CliRunner().invoke(main, args, prog_name="stability", catch_exceptions=False)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("stability: error: Invalid value for ") and flag in line, line
    assert result.stdout == ""


@dataclass
class _Thing:
    name: str
    when: datetime


def test_print_json_writes_dataclasses_and_dates_as_plain_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_json([_Thing("café", NOW)])
    out = capsys.readouterr().out
    assert json.loads(out) == [{"name": "café", "when": "2026-11-25 12:00:00+00:00"}]
    assert "café" in out  # UTF-8, not \\u escapes


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0%"),
        (0.01, "1%"),
        (0.0123, "1.23%"),
        (0.03699, "3.7%"),
        (0.123, "12.3%"),
        (0.00035, "0.035%"),
        (1.0, "100%"),
        (0.99999, ">99.9%"),
        (None, "–"),
    ],
)
def test_rates_read_as_percentages(value: float | None, text: str) -> None:
    assert pct(value) == text
