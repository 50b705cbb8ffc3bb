"""`stability diagnose`: find the tests that, run before a victim, make it fail.

From a repetition in which the victim failed, take the tests that ran before it there
and replay subsets of them, each followed by the victim, in fresh pytest processes with
fresh containers (the runner's own repetitions, so the database cannot remember an
earlier probe). First the victim alone (does it fail by itself?), then the whole failing
order (does the failure replay?), then delta debugging (ddmin, as iDFlakies/iPFlakies
do) down to a smallest set of polluters. Every probe is stored like any repetition,
under a session of kind `diagnose` labelled `diagnose`; the finding is stored with the
victim and the session it diagnosed, so that session's report shows it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stability.analysis.causes import Diagnosis
from stability.analysis.rules import FAILING_OUTCOMES
from stability.exceptions import StabilityError, UsageError
from stability.records import Session
from stability.runner.campaign import new_session_id, pytest_command
from stability.runner.gitinfo import environment_info
from stability.runner.repetition import ProcessRegistry, RepetitionSpec, run_repetition
from stability.store import ingest, queries
from stability.store.db import connect

DEFAULT_MAX_PROBES = 40
LABEL = "diagnose"
# Options that choose or spread tests: a probe names its tests itself and runs them in order.
_DROPPED_WITH_VALUE = ("-k", "-m", "-n", "--numprocesses", "--dist", "--maxprocesses")
_DROPPED = ("--lf", "--last-failed", "--ff", "--failed-first", "--sw", "--stepwise", "-x")
_KEEP_ORDER = ["-p", "no:randomly"]  # a random-order plugin would undo the probe's order


@dataclass(frozen=True)
class DiagnoseOptions:
    nodeid: str
    db: Path
    session: str | None = None
    max_probes: int = DEFAULT_MAX_PROBES
    timeout: float | None = None


@dataclass(frozen=True)
class DiagnoseResult:
    diagnosis: Diagnosis
    repetition: int  # the failing repetition replayed
    order_length: int  # tests before the victim in it
    summary: str


Progress = Callable[[str], None]


class Prober:
    """Runs the victim after a chosen list of tests in a fresh process; remembers results."""

    def __init__(
        self, options: DiagnoseOptions, order: queries.FailingOrder, session_id: str
    ) -> None:
        self.options = options
        self.order = order
        self.session_id = session_id
        self.registry = ProcessRegistry()
        self.cwd = Path(order.cwd) if order.cwd else Path.cwd()
        self.args = _probe_args(order.pytest_args)
        self.probes = 0
        self.seen: dict[tuple[str, ...], bool] = {}

    def command(self, before: Sequence[str]) -> list[str]:
        return pytest_command([*before, self.order.nodeid], self.args)

    def shown(self, before: Sequence[str]) -> str:
        """The probe as a plain pytest command to paste (run in the session's folder)."""
        return shlex.join(["pytest", *self.args, *before, self.order.nodeid])

    def fails(self, before: Sequence[str], progress: Progress, *, again: bool = False) -> bool:
        """Whether the victim failed after `before` (a victim that did not run: no).
        Each list is probed once unless `again`."""
        key = tuple(before)
        if key in self.seen and not again:
            return self.seen[key]
        if self.probes >= self.options.max_probes:
            raise _OutOfProbes
        self.probes += 1
        spec = RepetitionSpec(
            self.session_id, self.probes, 1, self.command(before), self.cwd, self.options.timeout
        )
        result = run_repetition(spec, self.registry)
        ingest.ingest_repetition(self.options.db, result.rows)
        victim = [
            e for e in result.rows.executions if e.nodeid == self.order.nodeid and e.attempt == 1
        ]
        failed = bool(victim) and victim[0].outcome in FAILING_OUTCOMES and not victim[0].infra
        what = "failed" if failed else ("passed" if victim else f"did not run ({result.status})")
        progress(
            f"probe {self.probes}/{self.options.max_probes}: "
            f"{len(before)} test(s) before the victim: it {what}"
        )
        self.seen[key] = failed
        return failed


class _OutOfProbes(Exception):
    pass


def _probe_args(pytest_args: Sequence[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in pytest_args:
        if skip:
            skip = False
            continue
        if arg in _DROPPED_WITH_VALUE:
            skip = True
            continue
        if arg in _DROPPED or arg.startswith(tuple(f"{o}=" for o in _DROPPED_WITH_VALUE)):
            continue
        if arg.startswith(("-k", "-m", "-n")) and len(arg) > 2 and arg[1] != "-":
            continue  # -kexpr, -n2
        kept.append(arg)
    return [*_KEEP_ORDER, *kept]


def ddmin(candidates: list[str], fails: Callable[[list[str]], bool]) -> list[str]:
    """A 1-minimal sublist of `candidates` (order kept) for which `fails` holds, given
    that it holds for the whole list (Zeller's delta debugging)."""
    n = 2
    while len(candidates) >= 2:
        chunks = _split(candidates, n)
        for chunk in chunks:
            if fails(chunk):
                candidates, n = chunk, 2
                break
        else:
            for chunk in chunks if n > 2 else ():
                rest = [c for c in candidates if c not in chunk]
                if fails(rest):
                    candidates, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(candidates):
                    break
                n = min(len(candidates), 2 * n)
    return candidates


def _split(items: list[str], n: int) -> list[list[str]]:
    size, extra = divmod(len(items), n)
    chunks, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        if end > start:
            chunks.append(items[start:end])
        start = end
    return chunks


def diagnose(options: DiagnoseOptions, progress: Progress) -> DiagnoseResult:
    if options.max_probes < 2:
        raise UsageError(f"--max-probes must be at least 2, got {options.max_probes}")
    order = _failing_order(options)
    probe_session = new_session_id()
    cwd = Path(order.cwd) if order.cwd else Path.cwd()
    ingest.create_session(
        options.db,
        Session(
            id=probe_session,
            started_at=datetime.now(UTC),
            label=LABEL,
            targets=[order.nodeid],
            repeat=options.max_probes,
            options=json.dumps(
                {"diagnoses": order.session_id, "repetition": order.repetition},
            ),
            status="running",
            kind="diagnose",
            **environment_info(cwd),
        ),
    )
    prober = Prober(options, order, probe_session)
    progress(
        f"diagnosing {order.nodeid}: it failed in repetition {order.repetition} of session "
        f"{order.session_id} after {len(order.before)} test(s); at most {options.max_probes} "
        "probes, each a fresh pytest process"
    )
    status = "completed"
    try:
        diagnosis = _search(prober, order, progress)
    except KeyboardInterrupt:
        prober.registry.kill_all()
        status = "interrupted"
        raise
    finally:
        ingest.finish_session(options.db, probe_session, status)
    ingest.store_diagnosis(options.db, diagnosis)
    return DiagnoseResult(diagnosis, order.repetition, len(order.before), _summary(diagnosis))


def _failing_order(options: DiagnoseOptions) -> queries.FailingOrder:
    with connect(options.db, "read") as conn:
        if options.session:
            scope = queries.Scope(session=options.session)
            session_id = queries.resolve_scope(conn, scope, str(options.db))[0].id
        else:
            session_id = ""
        ids = [session_id] if session_id else _all_sessions(conn)
        names = queries.find_nodeids(conn, ids, options.nodeid)
        if not names:
            where = f"session {session_id}" if session_id else str(options.db)
            raise StabilityError(f"no test {options.nodeid!r} in {where}")
        if len(names) > 1:
            listed = "\n  ".join(names[:10])
            raise UsageError(
                f"{options.nodeid!r} matches {len(names)} tests; give one of:\n  {listed}"
            )
        nodeid = names[0]
        session_id = session_id or queries.last_session_failing(conn, nodeid) or ""
        order = queries.failing_order(conn, session_id, nodeid) if session_id else None
        if order is not None:
            order = replace(order, likely=_likely_polluters(conn, order))
    if order is None:
        where = f"in session {session_id}" if session_id else "in any session"
        raise StabilityError(
            f"{nodeid} never failed {where} with its order recorded: nothing to diagnose "
            "(run it with `stability run --shuffle` first)"
        )
    return order


def _all_sessions(conn: object) -> list[str]:
    return [s.id for s in queries.list_sessions(conn, limit=None)]  # type: ignore[arg-type]


def _likely_polluters(conn: Any, order: queries.FailingOrder) -> tuple[str, ...]:
    """Tests to try first, in the order they ran: those that ran before the victim in
    every failing shuffled order of the session and in no passing one, and those that
    left state behind in the session (rows, tables, keys, threads: the leftover check)."""
    evidence = queries.cause_evidence(conn, [order.session_id], [order.nodeid])
    found = evidence.get(order.nodeid)
    suspects = set(found.suspects) if found else set()
    suspects |= {s.nodeid for s in queries.leftover_summaries(conn, [order.session_id])}
    return tuple(t for t in order.before if t in suspects)


def _search(prober: Prober, order: queries.FailingOrder, progress: Progress) -> Diagnosis:
    victim = order.nodeid
    before = list(order.before)

    def found(verdict: str, polluters: Sequence[str] = (), passing: Sequence[str] | None = None,
              failing: Sequence[str] | None = None) -> Diagnosis:  # fmt: skip
        return Diagnosis(
            session_id=order.session_id,
            nodeid=victim,
            verdict=verdict,  # type: ignore[arg-type]
            polluters=tuple(polluters),
            failing_order=(*failing, victim) if failing is not None else (),
            failing_command=prober.shown(failing) if failing is not None else None,
            passing_command=prober.shown(passing) if passing is not None else None,
            probes=prober.probes,
            probe_session=prober.session_id,
        )

    best = [before]  # the shortest failing list so far, should the probes run out

    def fails(subset: list[str], again: bool = False) -> bool:
        failed = prober.fails(subset, progress, again=again)
        if failed and len(subset) < len(best[0]):
            best[0] = subset
        return failed

    try:
        if fails([]):
            return found("fails-alone", failing=[])
        if not before:
            return found("does-not-replay", passing=[])
        if not fails(before) and not fails(before, again=True):  # it may be flaky too
            return found("does-not-replay", passing=[])
    except _OutOfProbes:
        return found("inconclusive")
    candidates = before
    likely = list(order.likely)
    try:
        if likely and len(likely) < len(before) and fails(likely):
            candidates = likely  # the shuffled orders' suspects replay it: narrow them
        smallest = ddmin(candidates, fails)
    except _OutOfProbes:
        return found("inconclusive", failing=best[0])
    # Without its polluters the smallest order is the victim alone, which passed (probe 1).
    # Also probe the whole failing order without them: does another polluter remain?
    without = [t for t in before if t not in smallest]
    try:
        others = bool(without) and fails(without)
    except _OutOfProbes:
        others = False
    if others:
        progress("the failing order still fails without them: more polluters remain there")
    return found("polluted", smallest, passing=[], failing=smallest)


def _summary(d: Diagnosis) -> str:
    if d.verdict == "polluted":
        return f"order-dependent: fails after {', '.join(d.polluters)}"
    if d.verdict == "fails-alone":
        return "fails alone: no polluter needed, so not order-dependent (flaky on its own)"
    if d.verdict == "does-not-replay":
        return (
            "its failing order did not fail again when replayed twice: the failure is not "
            "explained by the order alone (flaky on its own, or the polluter is outside the "
            "tests that ran before it)"
        )
    return f"no polluter found within {d.probes} probes (raise --max-probes)"
