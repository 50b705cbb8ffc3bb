"""The recorder: a pytest plugin, on only under `stability run`, that writes results files.

`plugin.pytest_configure` registers it when STABILITY_RESULTS_DIR is set. It uses public
hooks only, so it works the same under xdist: the controller (or a plain pytest process)
records `test_start` and one `execution` per finished test from the reports it receives;
xdist workers only annotate their reports (error type, infrastructure flag), which xdist
carries to the controller. It never touches the database: the runner ingests the files.

Records written (one JSON line each, see `results_file`):

- `session_start`: pid, started_at, pytest_version, xdist (worker count or 0)
- `test_start`: nodeid, started_at, position, attempt
- `execution`: nodeid, file, outcome, phase, setup_s, call_s, teardown_s, started_at,
  error_type, message, traceback, captured_output, infra, environment, failure_frame,
  position (1-based order in which tests started in this process), attempt (the test's
  run number in the process)
- `session_finish`: finished_at, exitstatus, collected, failed
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import pytest

from stability.containers import sdk_patch as container_patch
from stability.containers.service_fixtures import service_ports
from stability.containers.watch import WATCH
from stability.exceptions import InfrastructureError
from stability.records import Execution, Outcome, Phase
from stability.runner.failure_causes import failing_frame, is_environment_failure
from stability.runner.results_file import (
    MAX_MESSAGE,
    MAX_OUTPUT,
    MAX_TRACEBACK,
    RECORDER_PID_ENV,
    RESULTS_DIR_ENV,
    RUNNER_PID_ENV,
    append_record,
    bounded,
)

_ORPHAN_POLL_S = 1.0
_ORPHAN_GRACE_S = 15.0


def register(config: pytest.Config) -> None:
    """Install the recorder (controller) or the report annotator (xdist worker).

    Only the pytest process the runner started records, with its own xdist workers. A
    pytest that a test starts (pytester, a subprocess) is not part of the repetition:
    it records nothing, and neither do its own children.
    """
    if config.pluginmanager.has_plugin("stability-recorder"):
        return
    if os.environ.get(RECORDER_PID_ENV) == str(os.getpid()):
        return  # a pytest run inline inside a recorded session: not part of the repetition
    worker = hasattr(config, "workerinput")
    if not started_by_the_run(worker):
        if not worker and _runner_gone():  # orphaned before it began: nobody will read it
            pytest.exit(
                "stability: the `stability run` that started this repetition is gone",
                returncode=pytest.ExitCode.INTERRUPTED,
            )
        os.environ.pop(RESULTS_DIR_ENV, None)  # silences append_record here and below
        return
    previous = os.environ.get(RECORDER_PID_ENV)
    os.environ[RECORDER_PID_ENV] = str(os.getpid())
    config.add_cleanup(lambda: _restore(RECORDER_PID_ENV, previous))
    container_patch.install()  # label, time and watch the containers the tests start
    plugin = ReportAnnotator() if worker else Recorder(config)
    config.pluginmanager.register(plugin, "stability-recorder")


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def started_by_the_run(worker: bool) -> bool:
    expected = os.environ.get(RECORDER_PID_ENV if worker else RUNNER_PID_ENV, "")
    if not expected:  # no runner to check against (set up by hand, or by an older runner)
        return not worker or RUNNER_PID_ENV not in os.environ
    return expected.isdigit() and os.getppid() == int(expected)


def _runner_gone() -> bool:
    from stability.containers.cleanup import process_alive

    runner = os.environ.get(RUNNER_PID_ENV, "")
    return runner.isdigit() and not process_alive(int(runner))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch else None


class ReportAnnotator:
    """Adds what only the process that ran the test knows: the exception's type and cause,
    the time the phase spent starting and stopping containers, and whether a container
    failed."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        WATCH.test_started(item.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        extra: dict[str, Any] = {}
        container_s = WATCH.container_seconds(call.start, call.stop)
        if container_s > 0:
            extra["container_s"] = round(container_s, 6)
        if call.excinfo is not None and report.failed:
            chain = _exception_chain(call.excinfo.value)
            # A container that failed to start or died during this test, whoever started
            # it, makes the failure infrastructure (the same rule as our own containers).
            WATCH.check_deaths()
            infra = any(isinstance(exc, InfrastructureError) for exc in chain)
            extra.update(
                error_type=call.excinfo.typename,
                infra=infra or WATCH.blames_containers(item.nodeid, call.excinfo.value),
                # a refused connection to our own containers' ports is not the network
                environment=is_environment_failure(chain, service_ports(item.config)),
                frame=failing_frame(call.excinfo, item.config.rootpath),
            )
        if extra:
            report.stability = extra  # type: ignore[attr-defined]
        return report


def _exception_chain(exc: BaseException | None) -> list[BaseException]:
    """The exception and its causes (fail() from a cause, raise ... from ...)."""
    chain: list[BaseException] = []
    while exc is not None and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


class _Test:
    """The phases of one test seen so far."""

    def __init__(self, nodeid: str, location: tuple[str, int | None, str] | None) -> None:
        self.nodeid = nodeid
        self.file = location[0] if location else nodeid.split("::")[0]
        self.durations: dict[str, float] = {}
        self.container_s: dict[str, float] = {}  # per phase: starting and stopping containers
        self.started_at: str | None = None
        self.outcome: Outcome | None = None
        self.phase: Phase | None = None
        self.failure: pytest.TestReport | pytest.CollectReport | None = None
        self.sections: list[tuple[str, str]] = []
        self.position: int | None = None
        self.attempt = 1


class Recorder(ReportAnnotator):
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests: dict[str, _Test] = {}
        self.collect_errors: set[str] = set()
        self.started = 0  # tests started so far: the next one's position
        self.attempts: dict[str, int] = {}  # runs of each test so far (--in-process)

    # -- session -------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        numprocesses = getattr(self.config.option, "numprocesses", None)
        append_record(
            "session_start",
            {
                "pid": os.getpid(),
                "started_at": _now(),
                "pytest_version": pytest.__version__,
                "xdist": numprocesses if isinstance(numprocesses, int) else 0,
            },
        )
        runner = os.environ.get(RUNNER_PID_ENV, "")
        if runner.isdigit():
            threading.Thread(
                target=_watch_runner,
                args=(int(runner),),
                daemon=True,
                name="stability-orphan-watch",
            ).start()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        append_record(
            "session_finish",
            {
                "finished_at": _now(),
                "exitstatus": int(exitstatus),
                "collected": session.testscollected,
                "failed": session.testsfailed,
            },
        )

    def pytest_internalerror(self, excrepr: Any) -> None:
        append_record("internal_error", {"text": bounded(str(excrepr), MAX_TRACEBACK, tail=True)})

    # -- tests ---------------------------------------------------------------------

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        test = self.tests[nodeid] = _Test(nodeid, location)
        test.started_at = _now()
        self.started += 1
        test.position = self.started
        test.attempt = self.attempts[nodeid] = self.attempts.get(nodeid, 0) + 1
        append_record(
            "test_start",
            {
                "nodeid": nodeid,
                "started_at": test.started_at,
                "position": test.position,
                "attempt": test.attempt,
            },
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when not in ("setup", "call", "teardown"):
            return
        test = self.tests.get(report.nodeid)
        if test is None:  # a report without logstart (some plugins): start it here
            test = self.tests[report.nodeid] = _Test(report.nodeid, report.location)
        if report.when == "setup" and report.start:
            test.started_at = _iso(report.start)
        test.durations[report.when] = round(report.duration, 6)
        container_s = (getattr(report, "stability", None) or {}).get("container_s")
        if container_s:
            test.container_s[report.when] = float(container_s)
        test.sections = list(report.sections)  # each report carries the earlier ones
        if str(report.outcome) == "rerun":  # pytest-rerunfailures: the next attempt counts
            self.tests.pop(report.nodeid, None)
            return
        self._decide(test, report)
        if report.when == "teardown":
            self._emit(self.tests.pop(report.nodeid))

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        test = self.tests.pop(nodeid, None)
        if test is not None and test.outcome is not None:  # no teardown report came
            self._emit(test)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        nodeid = report.nodeid or "."
        if nodeid in self.collect_errors:  # xdist: every worker collects the same file
            return
        self.collect_errors.add(nodeid)
        test = _Test(nodeid, None)
        test.outcome, test.phase, test.failure = "error", "collect", report
        test.started_at = _now()
        self._emit(test)

    def _decide(self, test: _Test, report: pytest.TestReport) -> None:
        xfail = hasattr(report, "wasxfail")
        if report.when == "setup":
            if report.failed:
                test.outcome, test.phase, test.failure = "error", "setup", report
            elif report.skipped:
                test.outcome = "xfailed" if xfail else "skipped"
        elif report.when == "call":
            if report.failed:
                test.outcome, test.phase, test.failure = "failed", "call", report
            elif report.skipped:
                test.outcome = "xfailed" if xfail else "skipped"
            else:
                test.outcome = "xpassed" if xfail else "passed"
        elif report.failed and test.outcome not in ("failed", "error"):
            test.outcome, test.phase, test.failure = "error", "teardown", report
        if test.outcome is None and report.passed and report.when == "teardown":
            test.outcome = "passed"

    def _emit(self, test: _Test) -> None:
        execution = Execution(
            nodeid=test.nodeid,
            file=test.file,
            outcome=test.outcome or "passed",
            phase=test.phase,
            started_at=test.started_at,
            setup_s=test.durations.get("setup"),
            call_s=test.durations.get("call"),
            teardown_s=test.durations.get("teardown"),
            position=test.position,
            attempt=test.attempt,
            setup_container_s=test.container_s.get("setup"),
            call_container_s=test.container_s.get("call"),
        )
        if test.failure is not None:
            _add_failure_details(execution, test.failure, test.sections)
        append_record("execution", execution)


def _add_failure_details(
    execution: Execution,
    report: pytest.TestReport | pytest.CollectReport,
    sections: list[tuple[str, str]],
) -> None:
    extra = getattr(report, "stability", None) or {}
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if message is None:
        if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip-like (path, line, msg)
            message = str(longrepr[2])
        else:
            text = str(longrepr or "").strip()
            message = text.splitlines()[-1] if text else ""
    output = "\n".join(f"----- {title} -----\n{content}" for title, content in sections if content)
    execution.error_type = extra.get("error_type") or _type_from_message(message)
    execution.message = bounded(message, MAX_MESSAGE)
    execution.traceback = bounded(
        str(longrepr) if longrepr is not None else None, MAX_TRACEBACK, tail=True
    )
    execution.captured_output = bounded(output or None, MAX_OUTPUT, tail=True)
    execution.infra = bool(extra.get("infra"))
    execution.environment = bool(extra.get("environment")) and not execution.infra
    execution.failure_frame = extra.get("frame")


def _type_from_message(message: str) -> str | None:
    """`ValueError` from `ValueError: boom`; `AssertionError` from a bare `assert ...`."""
    head, sep, _ = message.partition(":")
    if sep and head and " " not in head and (head[0].isupper() or "." in head):
        return head
    if message.startswith("assert"):
        return "AssertionError"
    return None


def _watch_runner(runner_pid: int) -> None:
    """Stop this repetition when the runner that started it is gone (e.g. SIGKILLed).

    Interrupt first, so fixtures stop their containers; kill the group if that hangs.
    """
    while True:
        time.sleep(_ORPHAN_POLL_S)
        if os.getppid() != runner_pid:
            break
    _remove_repetition_containers()  # whoever started them, before anything else
    group = os.getpgid(0)
    try:
        os.killpg(group, signal.SIGINT)
        time.sleep(_ORPHAN_GRACE_S)
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass


def _remove_repetition_containers() -> None:
    """Remove every container labelled with this repetition (ours and the tests' own)."""
    from stability.containers import labels

    session, number = os.environ.get(labels.SESSION_ENV), os.environ.get(labels.REPETITION_ENV)
    if not session or not (number or "").isdigit():
        return
    try:
        from stability.containers.cleanup import prune_containers

        prune_containers(only_orphans=False, session=session, repetition=int(str(number)))
    except Exception:  # no engine, or it went away: the runner's reaper is the fallback
        pass
