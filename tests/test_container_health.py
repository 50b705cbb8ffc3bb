"""Judging container states (pure): which failures the infrastructure explains.

The real faults (docker kill, stop, OOM) are in test_infra_faults.py; these pin the
rules on states the engine reports, including an engine that stops answering.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stability.containers.health import judge, state_from_attrs
from stability.records import ContainerState
from stability.runner.repetition import RepetitionSpec, build_rows

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def attrs(**state: Any) -> dict[str, Any]:
    base = {
        "Status": "running",
        "ExitCode": 0,
        "OOMKilled": False,
        "StartedAt": "2026-11-25T11:59:00.123456789Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    }
    return {"Id": "abcdef1234567890", "RestartCount": 0, "State": {**base, **state}}


def test_a_running_container_is_healthy() -> None:
    assert judge([state_from_attrs("postgres", attrs())]) == []


def test_killed_stopped_oom_and_restarted_containers_fail_with_their_reason() -> None:
    cases = {
        "postgres container exited with code 137 (killed)": attrs(
            Status="exited", ExitCode=137, FinishedAt="2026-11-25T12:00:05.5Z"
        ),
        "postgres container exited with code 0": attrs(Status="exited", ExitCode=0),
        "postgres container ran out of memory (OOM-killed, exit code 137)": attrs(
            Status="exited", ExitCode=137, OOMKilled=True
        ),
        "postgres container ran out of memory (OOM-killed)": attrs(OOMKilled=True),
        "postgres container restarted": attrs(FinishedAt="2026-11-25T12:00:01.000000001Z"),
    }
    for reason, raw in cases.items():
        [failure] = judge([state_from_attrs("postgres", raw)])
        assert failure.reason == reason
    [killed] = judge([state_from_attrs("postgres", cases[next(iter(cases))])])
    assert killed.at == T0 + timedelta(seconds=5.5)


def test_one_container_seen_twice_counts_once_and_the_owner_view_wins() -> None:
    owner = state_from_attrs("redis", attrs(Status="exited", ExitCode=137))
    runner = state_from_attrs("redis", attrs(Status="exited", ExitCode=0))
    assert [f.reason for f in judge([owner, runner])] == [
        "redis container exited with code 137 (killed)"
    ]


def execution(nodeid: str, outcome: str, started: datetime, call_s: float) -> dict[str, Any]:
    return {
        "kind": "execution",
        "nodeid": nodeid,
        "file": "t.py",
        "outcome": outcome,
        "phase": "call" if outcome == "failed" else None,
        "started_at": started.isoformat(),
        "setup_s": 0.0,
        "call_s": call_s,
        "teardown_s": 0.0,
        "message": "boom" if outcome == "failed" else None,
    }


def rows(records: list[dict[str, Any]], leftovers: list[ContainerState] | None = None) -> Any:
    spec = RepetitionSpec("s", 1, 1, [], Path("."))
    base: list[dict[str, Any]] = [
        {
            "kind": "container_start",
            "service": "postgres",
            "image": "i",
            "started_at": None,
            "ok": True,
        },
        {"kind": "session_finish", "exitstatus": 1},
    ]
    return build_rows(
        spec,
        base + records,
        exit_code=1,
        timed_out=False,
        wall_s=1.0,
        started_at=T0,
        leftovers=leftovers,
    )


def died(at: datetime) -> dict[str, Any]:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "kind": "container_state",
        "service": "postgres",
        "container_id": "c1",
        "status": "exited",
        "exit_code": 137,
        "finished_at": stamp,
    }


def test_failures_before_the_death_stay_the_tests_and_later_ones_are_infra() -> None:
    records = [
        execution("t.py::early", "failed", T0, 1.0),  # ended 20 s before the death
        execution("t.py::passes", "passed", T0 + timedelta(seconds=2), 1.0),
        execution("t.py::holding", "failed", T0 + timedelta(seconds=19), 2.0),
        died(T0 + timedelta(seconds=21)),
    ]
    built, status = rows(records)
    flags = {e.nodeid: e.infra for e in built.executions}
    assert flags == {"t.py::early": False, "t.py::passes": False, "t.py::holding": True}
    assert status == "failed"  # the early failure is not explained by the container
    assert "postgres container exited with code 137 (killed)" in (built.repetition.error or "")


def test_only_infra_explained_failures_make_the_repetition_infra() -> None:
    records = [
        execution("t.py::passes", "passed", T0, 1.0),
        execution("t.py::holding", "failed", T0 + timedelta(seconds=9), 2.0),
        died(T0 + timedelta(seconds=10)),
    ]
    built, status = rows(records)
    assert status == "infra"
    assert built.repetition.error == (
        "postgres container exited with code 137 (killed) at 12:00:10.00 UTC; "
        "first failure it explains: t.py::holding"
    )


def test_an_engine_that_stopped_answering_makes_every_failure_infra() -> None:
    gone = ContainerState("docker", None, "unreachable", error="connection refused")
    built, status = rows([execution("t.py::a", "failed", T0, 1.0)], leftovers=[gone])
    assert status == "infra" and built.executions[0].infra
    assert "Docker engine stopped answering (connection refused)" in (built.repetition.error or "")


def test_healthy_containers_change_nothing() -> None:
    healthy = ContainerState("postgres", "c1", "running")
    built, status = rows([execution("t.py::a", "failed", T0, 1.0)], leftovers=[healthy])
    assert status == "failed" and not built.executions[0].infra
