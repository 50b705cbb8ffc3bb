"""`stability import junit`: ordinary CI test results (JUnit XML) as history.

Each file is one repetition of one new session. Pure parsing: every file is read and
checked before anything is stored, so a batch with one bad file imports nothing.

Node ids are rebuilt from pytest's attributes. With `file` (pytest's `xunit1` family)
the file is known; without it (the default `xunit2`) it is guessed from `classname`:
the trailing parts that start with a capital letter are classes, the rest is the
module's dotted path, so `tests.api.test_orders.TestCart` + `test_add[2-x]` becomes
`tests/api/test_orders.py::TestCart::test_add[2-x]`. The guess needs a module named
like pytest's default `test_*.py` / `*_test.py`, and cannot restore folder names that
contain dots; other results (Maven, other runners) keep `classname::name`.

Outcomes: `<failure>` failed, `<error>` error (pytest's set-up/tear-down errors),
`<skipped>` skipped (`type="pytest.xfail"`: xfailed), none passed. The reruns that rerun
plugins and Maven Surefire write are executions too: each `<rerunFailure>` /
`<flakyFailure>` is a failed execution (`...Error`: an error), so a retry that passed
counts as a failure plus a pass.
"""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stability.analysis.signatures import failure_signature
from stability.exceptions import UsageError
from stability.records import Execution, Outcome, Phase, Repetition, Session
from stability.runner.results_file import MAX_MESSAGE, MAX_TRACEBACK, bounded
from stability.store.ingest import RepetitionRows

_RERUNS: dict[str, Outcome] = {
    "rerunFailure": "failed",
    "flakyFailure": "failed",
    "rerunError": "error",
    "flakyError": "error",
}
_PYTEST_MODULE = re.compile(r"^(test_.*|.*_test)$")


@dataclass(frozen=True)
class ImportOptions:
    label: str | None = None
    commit: str | None = None


def import_files(
    files: Sequence[Path], session_id: str, options: ImportOptions
) -> tuple[Session, list[RepetitionRows]]:
    """The session row and one repetition's rows per file (UsageError on a bad file)."""
    if not files:
        raise UsageError("give at least one JUnit XML file to import")
    repetitions = [
        parse_file(path, session_id, number) for number, path in enumerate(files, start=1)
    ]
    starts = [r.repetition.started_at for r in repetitions]
    session = Session(
        id=session_id,
        started_at=min(starts),
        finished_at=max(starts),
        label=options.label,
        targets=[str(p) for p in files],
        repeat=len(files),
        options=json.dumps({"source": "junit", "files": [str(p) for p in files]}),
        status="completed",
        git_commit=options.commit,
        host=socket.gethostname(),
    )
    return session, repetitions


def parse_file(path: Path, session_id: str, number: int) -> RepetitionRows:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise UsageError(
            f"{path}: not well-formed XML at line {line}, column {column + 1} ({reason})"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise UsageError(f"{path}: not JUnit XML (the root element is <{root.tag}>, line 1)")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    started = _started_at(root, suites) or datetime.fromtimestamp(path.stat().st_mtime, UTC)
    executions: list[Execution] = []
    wall = 0.0
    for case in root.iter("testcase"):
        executions.extend(_executions(path, case))
        wall += _seconds(path, case.get("time"), "time") or 0.0
    if not executions:
        raise UsageError(f"{path}: no <testcase> elements (nothing to import)")
    failing = any(e.outcome in ("failed", "error") for e in executions)
    repetition = Repetition(
        session_id=session_id,
        number=number,
        worker=1,
        started_at=started,
        wall_s=round(wall, 4),
        exit_code=None,
        status="failed" if failing else "passed",
        host=next((s.get("hostname") for s in suites if s.get("hostname")), None),
    )
    return RepetitionRows(repetition, executions)


def node_id(classname: str, name: str, file: str | None = None) -> tuple[str, str]:
    """pytest's node id and file from a testcase's `classname`, `name` and `file`."""
    parts = [p for p in classname.split(".") if p]
    if file:
        file = file.replace("\\", "/")
        dotted = file.removesuffix(".py").replace("/", ".")
        inner = classname[len(dotted) + 1 :].split(".") if classname.startswith(dotted) else []
        return "::".join([file, *[c for c in inner if c], name]), file
    split = len(parts)
    while split > 0 and parts[split - 1][:1].isupper():
        split -= 1
    module, classes = parts[:split], parts[split:]
    if module and _PYTEST_MODULE.match(module[-1]):
        path = "/".join(module) + ".py"
        return "::".join([path, *classes, name]), path
    if not classname:
        return name, ""
    return f"{classname}::{name}", classname


def _executions(path: Path, case: ET.Element) -> list[Execution]:
    nodeid, file = node_id(case.get("classname") or "", case.get("name") or "", case.get("file"))
    if not nodeid:
        raise UsageError(f"{path}: a <testcase> has no name")
    seconds = _seconds(path, case.get("time"), "time")
    result: list[Execution] = []
    for child in case:
        if child.tag in _RERUNS:  # an earlier attempt: failed, then rerun
            result.append(_failing(nodeid, file, _RERUNS[child.tag], child, None))
    failure, error, skipped = (case.find(tag) for tag in ("failure", "error", "skipped"))
    if failure is not None:
        result.append(_failing(nodeid, file, "failed", failure, seconds, "call"))
    elif error is not None:
        phase: Phase = "teardown" if "teardown" in (error.get("message") or "") else "setup"
        result.append(_failing(nodeid, file, "error", error, seconds, phase))
    elif skipped is not None:
        xfail = skipped.get("type") == "pytest.xfail"
        outcome: Outcome = "xfailed" if xfail else "skipped"
        reason = skipped.get("message")
        result.append(Execution(nodeid, file, outcome, call_s=seconds, message=reason))
    else:
        result.append(Execution(nodeid, file, "passed", call_s=seconds))
    return result


def _failing(
    nodeid: str,
    file: str,
    outcome: Outcome,
    element: ET.Element,
    seconds: float | None,
    phase: Phase | None = None,
) -> Execution:
    message = element.get("message") or (element.text or "").strip().split("\n")[0] or None
    error_type = element.get("type") or None
    stack = element.find("stackTrace")  # Surefire puts reruns' traces in a child
    trace = (stack.text if stack is not None else element.text) or None
    return Execution(
        nodeid,
        file,
        outcome,
        phase=phase,
        call_s=seconds,
        error_type=error_type,
        message=bounded(message, MAX_MESSAGE),
        traceback=bounded(trace, MAX_TRACEBACK, tail=True),
        failure_signature=failure_signature(message, error_type),
    )


def _seconds(path: Path, value: str | None, what: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        raise UsageError(f"{path}: {what}={value[:40]!r} is not a number of seconds") from None
    if not 0 <= number < 1e9:
        raise UsageError(f"{path}: {what}={value[:40]!r} is not a number of seconds")
    return number


def _started_at(root: ET.Element, suites: list[ET.Element]) -> datetime | None:
    for element in (root, *suites):
        stamp = element.get("timestamp")
        if stamp:
            try:
                value = datetime.fromisoformat(stamp.strip())
            except ValueError:
                continue
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
