"""What `stability run` shows while it runs, and its closing summary.

On a terminal a rich progress bar (repetitions done of N, failures so far, elapsed, ETA);
otherwise one plain line per finished repetition; nothing with `--quiet`. Progress goes
to stderr, so `--json` output on stdout stays machine-readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from stability.analysis.rules import RED_REPETITION_STATUSES


def _clock(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress(Protocol):
    def start(self, total: int, done: int, failures: int) -> None: ...
    def advance(self, number: int, status: str, wall_s: float, failures: int) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


class QuietProgress:
    def start(self, total: int, done: int, failures: int) -> None:
        pass

    def advance(self, number: int, status: str, wall_s: float, failures: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """One line per finished repetition, for logs and CI."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.total = self.done = self.failures = self.resumed = 0
        self.began = time.monotonic()

    def start(self, total: int, done: int, failures: int) -> None:
        self.total, self.done, self.resumed, self.failures = total, done, done, failures
        self.began = time.monotonic()

    def eta(self) -> float | None:
        ran = self.done - self.resumed
        if ran <= 0:
            return None
        return (time.monotonic() - self.began) / ran * (self.total - self.done)

    def advance(self, number: int, status: str, wall_s: float, failures: int) -> None:
        self.done += 1
        self.failures = failures
        eta = self.eta()
        self.stream.write(
            f"[{self.done}/{self.total}] repetition {number} {status} in {wall_s:.1f} s"
            f" | failed repetitions: {failures}"
            f" | elapsed {_clock(time.monotonic() - self.began)}"
            f" | eta {_clock(eta) if eta is not None else '?'}\n"
        )
        self.stream.flush()

    def note(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class RichProgress:
    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self.console = Console(file=stream)
        self.bar = Bar(
            TextColumn("[bold]repetitions"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failures]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.bar.add_task("run", total=1, failures="")

    def start(self, total: int, done: int, failures: int) -> None:
        self.bar.update(self.task, total=total, completed=done, failures=_failures(failures))
        self.bar.start()

    def advance(self, number: int, status: str, wall_s: float, failures: int) -> None:
        self.bar.update(self.task, advance=1, failures=_failures(failures))
        if status != "passed":
            self.console.print(f"repetition {number}: [red]{status}[/red] in {wall_s:.1f} s")

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.bar.stop()


def _failures(count: int) -> str:
    return f"[red]{count} failed[/red]" if count else "[green]0 failed[/green]"


def make_progress(quiet: bool, stream: TextIO | None = None) -> Progress:
    stream = stream or sys.stderr
    if quiet:
        return QuietProgress()
    if stream.isatty():
        return RichProgress(stream)
    return PlainProgress(stream)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The closing summary, a few plain lines."""
    reps = summary["repetitions"]
    # red, as in the reports: infra and environment-only repetitions are not the tests'
    failed_reps = sum(n for status, n in reps.items() if status in RED_REPETITION_STATUSES)
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(reps.items())) or "none"
    shard = summary.get("shard")
    of = f"shard {shard}'s share of {summary['repeat']}" if shard else str(summary["repeat"])
    lines = [
        f"session {summary['session']}: {summary['status']}, "
        f"{summary['repetitions_done']} of {of} repetitions ({by_status})",
        f"tests: {summary['tests']}, executions: {summary['executions']}, "
        f"failed repetitions: {failed_reps}",
    ]
    flaky = summary["flaky_tests"]
    lines.append(f"flaky tests: {len(flaky)}")
    lines.extend(f"  {nodeid}" for nodeid in flaky[:10])
    if len(flaky) > 10:
        lines.append(f"  ... and {len(flaky) - 10} more")
    failing = summary["failing_tests"]
    if failing:
        lines.append(f"failing every time: {len(failing)}")
        lines.extend(f"  {nodeid}" for nodeid in failing[:10])
    for problem in summary.get("problems", []):
        count = problem["repetitions"]
        which = f"{count} repetitions" if count > 1 else f"repetition {problem['first']}"
        lines.append(f"{which} {problem['status']}: {problem['error']}")
    lines.append(f"history: {summary['db']}")
    if shard:
        lines.append("then: `stability merge SHARD-FILES... --into HISTORY` joins the shards")
    if summary.get("resume_command"):
        lines.append(f"to carry on: {summary['resume_command']}")
    lines.append(f"next: {summary['report_command']}")
    return lines
