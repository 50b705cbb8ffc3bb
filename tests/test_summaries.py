"""Per-(session, test) summaries: the reports' tallies from them equal the per-execution
computation, whether stored (ingest, migration) or computed for a session stored behind
the store's back; p50/p95 binned over large scopes, and the reports say so."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from history_factory import History
from stability.analysis.aggregate import count_signatures, count_tests
from stability.analysis.models import BINNED_QUANTILE_ERROR
from stability.exceptions import StoreError
from stability.records import Execution, Repetition, Session
from stability.report.build import ReportOptions, build_report
from stability.report.json_report import report_json
from stability.report.markdown import render_markdown
from stability.store import ingest, queries, summaries
from stability.store.db import connect
from stability.store.queries import Scope
from stability.store.queries._sql import DECIDED, ENVIRONMENT, FAILING, INFRA
from stability.store.schema import SCHEMA_VERSION

A, B, C, D = "20261101-a", "20261102-b", "20261103-c", "20261104-d"
ALL = [A, B, C, D]
SCOPES = [[A], [B], [A, B], [B, D], [A, B, D], ALL]


def _history(path: Path) -> Path:
    h = History(path)
    h.session(A, {"t.py::a": "PPPPFP", "t.py::env": "PPFPPP", "t.py::mixed": "PFPPFP",
                  "t.py::skip": "SSXxPP", "t.py::infra": "PIPPTP"},
              commit="aaa", durations={"t.py::a": [0.1, 0.2, 0.3, 0.45, 1.5, 0.12]},
              container_s={"t.py::a": (0.5, 0.05)})  # fmt: skip
    h.session(B, {"t.py::a": "PPPPPPPP", "t.py::env": "FPPPPFPP", "t.py::mixed": "PPFPPPPF",
                  "t.py::broken": "FFFFEFFF"},
              commit="bbb", rep_status={3: "infra"},
              durations={"t.py::a": [0.2, 0.25]})  # fmt: skip
    h.session(C, {"t.py::a": "FF", "t.py::env": "PP"}, label="adhoc", commit="bbb")
    h.session(D, {"t.py::a": "PFPP", "t.py::mixed": "PPPP", "t.py::env": "PPPF"},
              commit="ddd")  # fmt: skip
    h.write()
    with connect(path, "write") as conn:
        # environment failures: every failure of t.py::env (counted apart), one of mixed
        conn.execute(
            "UPDATE executions SET environment = true WHERE outcome = 'failed' AND "
            "(nodeid = 't.py::env' OR (nodeid = 't.py::mixed' AND repetition = 5))"
        )
        # session D: shuffled repetitions; a test run twice in a process (attempts)
        conn.execute(f"UPDATE repetitions SET seed = 7 WHERE session_id = '{D}' AND number > 2")
        conn.execute(
            "INSERT INTO executions (session_id, repetition, nodeid, file, outcome, call_s, "
            "started_at, attempt) SELECT session_id, repetition, nodeid, file, "
            "CASE WHEN repetition = 1 THEN 'failed' ELSE 'passed' END, 0.3, "
            "started_at + INTERVAL 30 SECOND, 2 FROM executions "
            f"WHERE session_id = '{D}' AND nodeid = 't.py::a'"
        )
        # the factory wrote rows behind the store's back: no summary yet
        conn.execute("DELETE FROM test_summaries")
        conn.execute("DELETE FROM summarised_sessions")
    return path


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _history(tmp_path_factory.mktemp("summaries") / "raw.duckdb")


@pytest.fixture(scope="module")
def stored(raw: Path) -> Path:
    path = raw.with_name("stored.duckdb")
    shutil.copy(raw, path)
    with connect(path, "write") as conn:
        summaries.refresh(conn)
    return path


@pytest.fixture
def both(raw: Path, stored: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, ...]]:
    with connect(raw) as r, connect(stored) as s:
        yield r, s


def _plain(obj: object) -> dict[str, Any]:
    data = asdict(obj)  # type: ignore[call-overload]
    return {k: round(v, 9) if isinstance(v, float) else v for k, v in data.items()}


def test_the_fixture_has_no_summaries_until_refreshed(
    both: tuple[duckdb.DuckDBPyConnection, ...],
) -> None:
    raw, stored = both
    assert summaries.stale_sessions(raw, ALL) == ALL
    assert summaries.stale_sessions(stored, ALL) == []
    assert stored.execute("SELECT count(*) FROM test_summaries").fetchone() == (14,)


@pytest.mark.parametrize("scope", SCOPES)
def test_tallies_from_summaries_equal_the_per_execution_reference(
    both: tuple[duckdb.DuckDBPyConnection, ...], scope: list[str]
) -> None:
    raw, stored = both
    expected = [_plain(c) for c in count_tests(queries.executions(raw, scope))]
    assert [_plain(c) for c in queries.tally_tests(stored, scope)] == expected
    assert [_plain(c) for c in queries.tally_tests(raw, scope)] == expected


def test_the_rules_the_fixture_exercises(both: tuple[duckdb.DuckDBPyConnection, ...]) -> None:
    _, stored = both
    counts = {c.nodeid: c for c in queries.tally_tests(stored, [A, B, D])}
    env, mixed, infra = counts["t.py::env"], counts["t.py::mixed"], counts["t.py::infra"]
    assert (env.environment, env.failed, env.failures) == (4, 0, 0)  # only the network failed
    assert (mixed.environment, mixed.failed) == (0, 2)  # also fails otherwise: counted
    assert (infra.infra, infra.timeouts) == (1, 1)
    assert counts["t.py::a"].infra == 2  # A's repetition 2 (an I), B's 3 (status infra)
    assert counts["t.py::a"].flips == 4  # 2 in A, 2 in D (a rerun failed, then passed)


def test_one_test_and_a_scope_mixing_stored_and_stale_sessions(
    stored: Path, tmp_path: Path
) -> None:
    path = tmp_path / "half.duckdb"
    shutil.copy(stored, path)
    with connect(path, "write") as conn:  # a repetition added by SQL: B is stale again
        conn.execute(
            f"INSERT INTO repetitions (session_id, number, started_at, status) "
            f"VALUES ('{B}', 9, now(), 'failed')"
        )
        conn.execute(
            "INSERT INTO executions (session_id, repetition, nodeid, outcome, call_s, "
            f"started_at) VALUES ('{B}', 9, 't.py::a', 'failed', 9.0, now())"
        )
    with connect(path) as conn:
        assert summaries.stale_sessions(conn, ALL) == [B]
        expected = count_tests(queries.executions(conn, ALL, "t.py::a"))
        assert [_plain(c) for c in queries.tally_tests(conn, ALL, "t.py::a")] == [
            _plain(c) for c in expected
        ]


_REFERENCE_EVIDENCE = f"""
    WITH ses AS (
        SELECT id, row_number() OVER (ORDER BY started_at, id) AS k
        FROM sessions WHERE id IN (SELECT unnest($ids::VARCHAR[]))
    ),
    runs AS (
        SELECT e.nodeid, e.session_id, e.repetition, coalesce(e.attempt, 1) AS attempt,
               e.outcome IN {FAILING} AS bad, r.seed IS NOT NULL AS shuffled, ses.k
        FROM executions e JOIN ses ON ses.id = e.session_id
        LEFT JOIN repetitions r ON r.session_id = e.session_id AND r.number = e.repetition
        WHERE e.outcome IN {DECIDED} AND NOT {INFRA} AND NOT {ENVIRONMENT}
    )
    SELECT nodeid,
        count(*) FILTER (WHERE attempt = 1 AND NOT shuffled AND NOT bad),
        count(*) FILTER (WHERE attempt = 1 AND NOT shuffled AND bad),
        count(*) FILTER (WHERE attempt = 1 AND shuffled AND NOT bad),
        count(*) FILTER (WHERE attempt = 1 AND shuffled AND bad),
        count(*) FILTER (WHERE attempt > 1 AND bad),
        coalesce(string_agg(CASE WHEN bad THEN 'F' ELSE 'P' END, '' ORDER BY k, repetition)
            FILTER (WHERE attempt = 1 AND NOT shuffled), ''),
        coalesce(string_agg(CASE WHEN bad THEN 'F' ELSE 'P' END, '' ORDER BY k, repetition)
            FILTER (WHERE attempt = 1 AND shuffled), '')
    FROM runs GROUP BY nodeid ORDER BY nodeid
"""


@pytest.mark.parametrize("scope", SCOPES)
def test_cause_evidence_from_summaries_equals_the_executions(
    both: tuple[duckdb.DuckDBPyConnection, ...], scope: list[str]
) -> None:
    raw, stored = both
    expected = raw.execute(_REFERENCE_EVIDENCE, {"ids": scope}).fetchall()
    nodeids = [r[0] for r in expected]
    for conn in (raw, stored):
        found = queries.cause_evidence(conn, scope, nodeids)
        assert [
            (e.nodeid, e.fixed_passed, e.fixed_failed, e.shuffled_passed, e.shuffled_failed,
             e.later_failed, e.fixed_sequence, e.shuffled_sequence)
            for e in (found[n] for n in nodeids)
        ] == expected  # fmt: skip
    # D's repetition 1: the first run passed, the second in the same process failed
    assert queries.cause_evidence(stored, [D], ["t.py::a"])["t.py::a"].self_polluted == 1


def test_trend_from_summaries_equals_the_stale_computation(
    both: tuple[duckdb.DuckDBPyConnection, ...],
) -> None:
    raw, stored = both
    last = queries.resolve_scope(stored, Scope())[-1]
    assert queries.trend(stored, last) == queries.trend(raw, last)
    assert [p.session_id for p in queries.trend(stored, last)] == [A, B, D]


def test_binned_quantiles_are_close_and_flagged(
    both: tuple[duckdb.DuckDBPyConnection, ...],
) -> None:
    _, stored = both
    exact = {c.nodeid: c for c in queries.tally_tests(stored, ALL)}
    binned = {c.nodeid: c for c in queries.tally_tests(stored, ALL, exact_limit=0)}
    assert not any(c.binned for c in exact.values())
    for nodeid, b in binned.items():
        e = exact[nodeid]
        assert b.binned == (e.max_s is not None)
        same = replace(
            b, p50_s=e.p50_s, p95_s=e.p95_s, p95_with_containers_s=e.p95_with_containers_s
        )
        assert replace(same, binned=False) == e  # the counts, flips and max stay exact
        if e.p50_s is None:
            continue
        # the bin holding the element quantile_cont starts from, within half a bin of it
        assert b.p50_s is not None and b.p95_s is not None
        assert b.p95_s <= (e.max_s or 0.0)


def test_a_binned_quantile_is_within_half_a_bin_of_the_element(tmp_path: Path) -> None:
    h = History(tmp_path / "h.duckdb")
    values = [0.1 * 1.07**i for i in range(40)]
    h.session(A, {"t.py::a": "P" * 40}, durations={"t.py::a": values})
    path = h.write()
    with connect(path, "write") as conn:
        summaries.refresh(conn)
        [b] = queries.tally_tests(conn, [A], exact_limit=0)
    ordered = sorted(values)
    for got, q in ((b.p50_s, 0.5), (b.p95_s, 0.95)):
        element = ordered[int(q * (len(ordered) - 1))]
        assert got is not None
        assert abs(got / element - 1) <= BINNED_QUANTILE_ERROR


def test_the_migration_backfills_an_old_history_and_a_read_never_upgrades(
    raw: Path, tmp_path: Path
) -> None:
    old = tmp_path / "older.duckdb"
    shutil.copy(raw, old)
    conn = duckdb.connect(str(old))
    for table in (*summaries.SELECTS, "summarised_sessions"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute(f"DELETE FROM schema_info WHERE version = {SCHEMA_VERSION}")
    executions = conn.execute("SELECT count(*) FROM executions").fetchone()
    conn.close()
    older = f"schema {SCHEMA_VERSION - 1}"
    with pytest.raises(StoreError, match=older), connect(old, "read"):
        pass
    with duckdb.connect(str(old), read_only=True) as check:
        version = check.execute("SELECT max(version) FROM schema_info").fetchone()
        assert version == (SCHEMA_VERSION - 1,)
    with connect(old, "write") as conn:
        assert conn.execute("SELECT max(version) FROM schema_info").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*) FROM executions").fetchone() == executions
        assert summaries.stale_sessions(conn, ALL) == []
        computed = conn.execute(
            f"SELECT * FROM ({summaries.summary_select('ids')}) ORDER BY 1, 2", {"ids": ALL}
        ).fetchall()
        assert conn.execute("SELECT * FROM test_summaries ORDER BY 1, 2").fetchall() == computed


def test_signatures_repetitions_and_grid_from_summaries_equal_the_executions(
    both: tuple[duckdb.DuckDBPyConnection, ...],
) -> None:
    raw, stored = both
    for scope in SCOPES:
        expected = [_plain(s) for s in count_signatures(queries.executions(raw, scope))]
        assert [_plain(s) for s in queries.tally_signatures(stored, scope)] == expected
        assert queries.repetitions(stored, scope) == queries.repetitions(raw, scope)
        assert queries.grid_columns(stored, scope, 7) == queries.grid_columns(raw, scope, 7)
    red = [r for r in queries.repetitions(stored, [A]) if r.failing_executions]
    # rep 3 failed only by the network; rep 2 (status infra) keeps its unflagged failure
    assert [(r.number, r.failing_executions) for r in red] == [(2, 1), (5, 2)]


def _session(session_id: str) -> Session:
    return Session(
        id=session_id,
        started_at=datetime(2026, 11, 5, tzinfo=UTC),
        label="nightly",
        targets=["t.py"],
        repeat=2,
        status="running",
        options="{}",
    )


def _repetition(session_id: str, number: int, outcomes: dict[str, str]) -> ingest.RepetitionRows:
    return ingest.RepetitionRows(
        repetition=Repetition(
            session_id=session_id,
            number=number,
            started_at=datetime(2026, 11, 5, 0, number, tzinfo=UTC),
            worker=1,
            wall_s=1.0,
            exit_code=0,
            status="failed" if "failed" in outcomes.values() else "passed",
        ),
        executions=[
            Execution(nodeid=n, file="t.py", outcome=o, call_s=0.1)  # type: ignore[arg-type]
            for n, o in outcomes.items()
        ],
    )


def test_a_running_session_is_summarised_when_it_ends_and_read_right_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.duckdb"
    ingest.create_session(path, _session("s1"))
    ingest.ingest_repetition(path, _repetition("s1", 1, {"t.py::a": "passed"}))
    ingest.ingest_repetition(path, _repetition("s1", 2, {"t.py::a": "failed"}))
    ingest.import_session(path, _session("s2"), [_repetition("s2", 1, {"t.py::a": "passed"})])
    with connect(path) as conn:  # s1 still running: read on the fly, the same counts
        assert summaries.stale_sessions(conn, ["s1", "s2"]) == ["s1"]
        [running] = queries.tally_tests(conn, ["s1", "s2"])
        assert (running.passed, running.failed, running.flips) == (2, 1, 2)
    # a repetition stored again (a resumed run) makes the session stale again
    ingest.finish_session(path, "s1", "interrupted")
    ingest.ingest_repetition(path, _repetition("s1", 2, {"t.py::a": "passed"}))
    with connect(path) as conn:
        assert summaries.stale_sessions(conn, ["s1"]) == ["s1"]
    ingest.ingest_repetition(path, _repetition("s1", 2, {"t.py::a": "failed"}))
    ingest.finish_session(path, "s1", "completed")
    with connect(path) as conn:
        assert summaries.stale_sessions(conn, ["s1", "s2"]) == []
        rows = conn.execute(
            "SELECT session_id, passed, failed, flips_main FROM test_summaries ORDER BY 1"
        ).fetchall()
        assert rows == [("s1", 1, 1, 1), ("s2", 1, 0, 0)]
        [counts] = queries.tally_tests(conn, ["s1", "s2"])
        assert counts.flips == 2


def test_every_format_says_when_durations_are_binned(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stability.store.queries import per_test

    scope = Scope(label="nightly")
    exact = build_report(stored, scope)
    assert report_json(exact)["durations"]["quantiles"] == "exact"
    assert "approximate" not in render_markdown(exact)
    monkeypatch.setattr(per_test.tally_tests, "__kwdefaults__", {"exact_limit": 0})
    binned = build_report(stored, scope, ReportOptions(charts=True, grid_repetitions=3))
    durations = report_json(binned)["durations"]
    assert durations["quantiles"] == "binned"
    assert durations["max_relative_error"] == BINNED_QUANTILE_ERROR
    assert "log-binned histograms" in durations["note"]
    assert "log-binned histograms" in render_markdown(binned)
    assert binned.grid is not None and len(binned.grid.columns) == 3
    assert binned.grid.total_repetitions > 3  # the page says "over the last 3 (of N)"
