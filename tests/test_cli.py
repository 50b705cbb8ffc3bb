"""The `stability` command group: version, help, and one-line usage errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stability import __version__
from stability.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output == f"stability, version {__version__}\n"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["-h"], catch_exceptions=False)
    assert result.exit_code == 0
    for command in (
        "run", "report", "check", "sessions", "show", "logs", "merge", "import", "quarantine",
        "images", "containers",
    ):  # fmt: skip
        assert f"\n  {command} " in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["check", "--max-flake-rate", "abc"],
            "stability: error: Invalid value for '--max-flake-rate': not a rate: 'abc' "
            "(write 1% or 0.01) (see `stability check --help`)\n",
        ),
        (
            ["images", "build", "--bogus"],
            "stability: error: No such option '--bogus'. (see `stability images build --help`)\n",
        ),
    ],
)
def test_bad_option_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(main, args, prog_name="stability", catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == expected
    assert result.stdout == ""
