"""Honouring the quarantine file in ordinary pytest runs.

A quarantined test still runs. Its pass is a pass; its failure is reported as
`quarantined` (with the reason) instead of failed, so it does not fail the session, and
the terminal summary lists it. An expired entry is ignored with a warning. Under
`stability run` nothing is changed: the campaign records the real outcome.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from stability.ci.quarantine import Entry, read

_entries_key = pytest.StashKey[dict[str, Entry]]()
ATTRIBUTE = "stability_quarantined"  # set on a report whose failure was quarantined


def configure(config: pytest.Config, path: Path, today: date | None = None) -> None:
    """Load the file and install the hooks (one UsageError line when the file is bad)."""
    from stability.exceptions import StabilityError

    try:
        entries = read(path)
    except StabilityError as exc:
        raise pytest.UsageError(f"stability: {exc}") from None
    today = today or date.today()
    active: dict[str, Entry] = {}
    for entry in entries:
        if entry.expired(today):
            config.issue_config_time_warning(
                pytest.PytestConfigWarning(
                    f"stability: quarantine of {entry.nodeid} expired on {entry.expires}: "
                    "ignored (its failures fail the run again)"
                ),
                stacklevel=2,
            )
        else:
            active[entry.nodeid] = entry
    config.stash[_entries_key] = active
    config.pluginmanager.register(_Hooks(active, path), "stability-quarantine")


class _Hooks:
    def __init__(self, entries: dict[str, Entry], path: Path) -> None:
        self.entries = entries
        self.path = path

    def pytest_report_header(self, config: pytest.Config) -> str:
        return f"stability: {len(self.entries)} test(s) quarantined by {self.path}"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        entry = self.entries.get(item.nodeid)
        if entry is not None and report.failed:
            report.outcome = "skipped"
            report.wasxfail = f"quarantined until {entry.expires}: {entry.reason}"
            setattr(report, ATTRIBUTE, entry.reason)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if getattr(report, ATTRIBUTE, None):
            return "quarantined", "Q", ("QUARANTINED", {"yellow": True})
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        reports = terminalreporter.stats.get("quarantined", [])
        if not reports:
            return
        terminalreporter.section("quarantined failures (not failing the run)", yellow=True)
        for report in reports:
            entry = self.entries.get(report.nodeid)
            until = f" (until {entry.expires})" if entry else ""
            terminalreporter.line(
                f"QUARANTINED {report.nodeid}{until}: {getattr(report, ATTRIBUTE)}"
            )
