"""The store's read queries: scopes, and SQL tallies held to the Python reference."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from history_factory import T0, History, empty_history
from stability.analysis.aggregate import count_signatures, count_tests
from stability.exceptions import StabilityError, UsageError
from stability.store import queries
from stability.store.db import connect
from stability.store.queries import Scope


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = History(tmp_path_factory.mktemp("q") / "history.duckdb")
    h.session("20261101-a", {"t.py::a": "PPPP", "t.py::b": "PFPP", "t.py::slow": "PPPP"},
              commit="aaa111", durations={"t.py::slow": 0.2},
              startup_s={"postgres": [2.0, 3.0, 4.0, 35.0], "redis": 0.3})  # fmt: skip
    h.session("20261102-b", {"t.py::a": "PPPPPPPP", "t.py::b": "PFPPFPTP",
                             "t.py::c": "SSXxPPPP", "t.py::slow": "PPPPPPPP",
                             "t.py::d": "FFEFIFFF"},
              commit="bbb222", durations={"t.py::slow": [0.5, 0.6, 0.7, 2.0]},
              messages={"t.py::d": "KeyError: 'user 42'"},
              startup_s={"postgres": [2.0, 2.5, 3.0, 3.5, -1, 2.0, 2.0, 2.0]},
              container_s={"t.py::slow": (1.5, 0.25), "t.py::c": (None, 0.01)})  # fmt: skip
    h.session("20261103-c", {"t.py::a": "PP", "t.py::b": "FF"}, label="adhoc", commit="ccc333")
    h.session("20261104-d", {"t.py::a": "PPPF", "t.py::b": "PPPP"}, commit="bbb222",
              rep_status={2: "infra"})  # fmt: skip
    return h.write()


@pytest.fixture
def conn(history: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(history, write=False) as c:
        yield c


ALL = ["20261101-a", "20261102-b", "20261103-c", "20261104-d"]


def test_default_scope_is_the_last_session(conn: duckdb.DuckDBPyConnection) -> None:
    [s] = queries.resolve_scope(conn, Scope())
    assert s.id == "20261104-d"
    assert s.label == "nightly"


def test_session_by_id_or_unique_prefix(conn: duckdb.DuckDBPyConnection) -> None:
    assert queries.resolve_scope(conn, Scope(session="20261102-b"))[0].id == "20261102-b"
    assert queries.resolve_scope(conn, Scope(session="20261103"))[0].id == "20261103-c"
    with pytest.raises(UsageError, match="several sessions"):
        queries.resolve_scope(conn, Scope(session="2026110"))
    with pytest.raises(StabilityError, match="no session 'nope'"):
        queries.resolve_scope(conn, Scope(session="nope"))
    with pytest.raises(UsageError, match="a session id picks one session"):
        queries.resolve_scope(conn, Scope(session="20261102-b", label="nightly"))


def test_label_since_and_commit_combine(conn: duckdb.DuckDBPyConnection) -> None:
    def ids(scope: Scope) -> list[str]:
        return [s.id for s in queries.resolve_scope(conn, scope)]

    assert ids(Scope(label="nightly")) == ["20261101-a", "20261102-b", "20261104-d"]
    assert ids(Scope(label="adhoc")) == ["20261103-c"]
    assert ids(Scope(since=T0 + timedelta(days=1, hours=12))) == ["20261103-c", "20261104-d"]
    assert ids(Scope(commit="BBB")) == ["20261102-b", "20261104-d"]
    assert ids(Scope(commit="bbb", since=T0 + timedelta(days=2))) == ["20261104-d"]
    assert ids(Scope(every_session=True)) == ALL
    with pytest.raises(StabilityError, match="no session matches label 'weekly'"):
        ids(Scope(label="weekly"))
    # LIKE wildcards in a prefix are literal
    with pytest.raises(StabilityError, match="no session matches"):
        ids(Scope(commit="%"))


def test_empty_history_says_run_first(tmp_path: Path) -> None:
    with empty_history(tmp_path / "h.duckdb") as path, connect(path, write=False) as c:
        with pytest.raises(StabilityError, match=r"no sessions in .* yet: run `stability run`"):
            queries.resolve_scope(c, Scope(), str(path))
        assert queries.list_sessions(c) == []


def _as_dict(obj: object) -> dict[str, object]:
    data = asdict(obj)  # type: ignore[call-overload]
    return {k: round(v, 9) if isinstance(v, float) else v for k, v in data.items()}


@pytest.mark.parametrize("scope", [["20261102-b"], ALL, ["20261104-d"]])
def test_sql_tallies_equal_the_python_reference(
    conn: duckdb.DuckDBPyConnection, scope: list[str]
) -> None:
    rows = queries.executions(conn, scope)
    expected = [_as_dict(c) for c in count_tests(rows)]
    assert [_as_dict(c) for c in queries.tally_tests(conn, scope)] == expected
    assert [_as_dict(s) for s in queries.tally_signatures(conn, scope)] == [
        _as_dict(s) for s in count_signatures(rows)
    ]


def test_sql_tallies_of_one_test(conn: duckdb.DuckDBPyConnection) -> None:
    [counts] = queries.tally_tests(conn, ALL, nodeid="t.py::b")
    # rep 5 of 20261102-b and rep 2 of 20261104-d are infra repetitions
    assert (counts.passed, counts.failed, counts.timeouts, counts.infra) == (11, 5, 1, 2)
    assert counts.mixed_on_one_commit


def test_a_repetition_with_status_infra_makes_its_executions_infra(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    counts = {c.nodeid: c for c in queries.tally_tests(conn, ["20261104-d"])}
    assert counts["t.py::a"].infra == 1
    assert counts["t.py::a"].decided == 3
    reps = queries.repetitions(conn, ["20261104-d"])
    assert [r.status for r in reps] == ["passed", "infra", "passed", "failed"]


def test_list_sessions_newest_first_with_counts(conn: duckdb.DuckDBPyConnection) -> None:
    listed = queries.list_sessions(conn)
    assert [s.id for s in listed] == list(reversed(ALL))
    b = next(s for s in listed if s.id == "20261102-b")
    assert (b.repetitions, b.failed_repetitions, b.executions, b.tests) == (8, 7, 40, 5)
    assert b.infra_repetitions == 1  # rep 5: a container did not start
    d = listed[0]
    assert (d.repetitions, d.infra_repetitions, d.failed_repetitions) == (4, 1, 1)
    assert [s.id for s in queries.list_sessions(conn, label="adhoc")] == ["20261103-c"]
    assert len(queries.list_sessions(conn, limit=2)) == 2


def test_previous_comparable_session_has_same_label_and_targets(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    sessions = queries.resolve_scope(conn, Scope())
    previous = queries.previous_comparable(conn, sessions)
    assert previous is not None and previous.id == "20261102-b"  # not the adhoc one
    first = queries.resolve_scope(conn, Scope(session="20261101-a"))
    assert queries.previous_comparable(conn, first) is None
    assert queries.baseline_p50(conn, "20261101-a")["t.py::slow"] == pytest.approx(0.2)


def test_trend_follows_the_label(conn: duckdb.DuckDBPyConnection) -> None:
    last = queries.resolve_scope(conn, Scope())[-1]
    points = queries.trend(conn, last)
    assert [p.session_id for p in points] == ["20261101-a", "20261102-b", "20261104-d"]
    b = points[1]
    assert (b.repetitions, b.failed_repetitions, b.tests, b.flaky_tests) == (7, 7, 5, 1)
    assert (b.decided, b.failures) == (7 + 7 + 3 + 7 + 7, 2 + 7)
    assert [p.session_id for p in queries.trend(conn, last, limit=1)] == ["20261104-d"]


def test_grid_is_bounded(conn: duckdb.DuckDBPyConnection) -> None:
    columns = queries.grid_columns(conn, ALL, limit=5)
    assert columns == [("20261103-c", 2), ("20261104-d", 1), ("20261104-d", 2),
                       ("20261104-d", 3), ("20261104-d", 4)]  # fmt: skip
    cells = queries.grid_cells(conn, columns, ["t.py::a"])
    assert sorted((c[1], c[2], c[3], c[4]) for c in cells) == [
        ("20261103-c", 2, "passed", False),
        ("20261104-d", 1, "passed", False),
        ("20261104-d", 2, "passed", True),
        ("20261104-d", 3, "passed", False),
        ("20261104-d", 4, "failed", False),
    ]
    assert queries.grid_cells(conn, [], ["t.py::a"]) == []


def test_call_durations_are_capped_per_test(conn: duckdb.DuckDBPyConnection) -> None:
    samples = queries.call_durations(conn, ALL, ["t.py::slow", "t.py::nope"], per_test=3)
    assert samples["t.py::nope"] == []
    # reps 6, 7, 8, less the 0.25 s each call spent starting a container
    assert sorted(samples["t.py::slow"]) == pytest.approx([0.35, 0.45, 1.75])


def test_durations_leave_container_starts_out_and_keep_them_apart(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    [slow] = queries.tally_tests(conn, ["20261102-b"], nodeid="t.py::slow")
    # calls of 0.5, 0.6, 0.7, 2.0 s (cycled over 8 repetitions), 0.25 s of each starting
    assert slow.max_s == pytest.approx(1.75)
    assert slow.p95_with_containers_s is not None and slow.p95_s is not None
    assert slow.p95_with_containers_s - slow.p95_s == pytest.approx(0.25)
    assert slow.container_s == pytest.approx(7 * (1.5 + 0.25))  # rep 5 is infra: left out


def test_container_starts(conn: duckdb.DuckDBPyConnection) -> None:
    starts = queries.container_starts(conn, ["20261102-b"])
    assert len(starts) == 8
    assert sum(not s.ok for s in starts) == 1


def test_find_nodeids(conn: duckdb.DuckDBPyConnection) -> None:
    assert queries.find_nodeids(conn, ALL, "t.py::a") == ["t.py::a"]
    assert queries.find_nodeids(conn, ALL, "::s") == ["t.py::slow"]
    assert len(queries.find_nodeids(conn, ALL, "t.py")) == 5
    assert queries.find_nodeids(conn, ALL, "zzz") == []
