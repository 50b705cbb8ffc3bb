"""The README's CLI reference is the commands' real --help, kept current."""

from __future__ import annotations

from pathlib import Path

from stability.cli.reference import END, START, render, replace_section

README = Path(__file__).parent.parent / "README.md"


def test_cli_reference_in_readme_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text
    assert replace_section(text, render()) == text, (
        "README.md's CLI reference is stale: run "
        "`python -m stability.cli.reference --write README.md`"
    )


def test_reference_covers_every_command() -> None:
    rendered = render()
    for command in (
        "stability run",
        "stability report",
        "stability check",
        "stability sessions",
        "stability show",
        "stability logs",
        "stability containers list",
        "stability images build",
        "stability containers prune",
        "stability merge",
        "stability import junit",
        "stability quarantine",
        "stability diagnose",
    ):
        assert f"### `{command}`" in rendered


def test_readme_leads_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8")[:1500]
    assert "bash scripts/demo.sh" in head
    assert "bash scripts/test.sh" in head
