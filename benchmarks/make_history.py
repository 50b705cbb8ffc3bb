"""Generate a synthetic but realistic history: sessions x repetitions x tests executions.

Written with DuckDB's own bulk path (INSERT ... SELECT over range()), so a million
executions take seconds. Deterministic: every "random" draw is a hash of its position.

    python benchmarks/make_history.py /tmp/bench.duckdb                 # 20 x 100 x 500 = 1M
    python benchmarks/make_history.py docs/demo.duckdb --sessions 8 --tests 48

The tests have a spread of behaviours: most are stable, some flaky at 0.3%-6%, one
broken with --broken, a few slow or slowing down; failures of some tests cluster in "bad"
repetitions (a shared cause); a few repetitions lose a container (infra).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from stability.store.db import connect

# u(k, ...) is a uniform draw in [0, 1) from the hash of its arguments.
_U = "((hash({args}) % 1000003) / 1000003.0)"


def u(*args: str) -> str:
    return _U.format(args=", ".join(args))


def _has_summaries(conn: duckdb.DuckDBPyConnection) -> bool:
    """A history of schema 7 or later (per-session summaries); an older pytest-stability
    on the path (to measure it) writes an older one."""
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'test_summaries'"
    ).fetchone()
    return bool(found and found[0])


def generate(
    path: Path, sessions: int, repetitions: int, tests: int, label: str, broken: bool = False
) -> int:
    with connect(path, write=True) as conn:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(
            f"""
            CREATE TEMP TABLE bench_tests AS
            SELECT t,
                'tests/integration/test_' ||
                    ['orders', 'payments', 'inventory', 'users', 'search', 'billing',
                     'shipping', 'reports'][t % 8 + 1] || '.py::test_' ||
                    ['create', 'update', 'delete', 'list', 'concurrent_write', 'cache_hit',
                     'expire', 'rollback', 'retry', 'export'][(t // 8) % 10 + 1] ||
                    CASE WHEN t >= 80 THEN '[case' || (t // 80) || ']' ELSE '' END AS nodeid,
                CASE
                    WHEN t = 3 THEN 0.0                       -- --broken: in the last session
                    WHEN t % 23 = 5 THEN 0.06                 -- clearly flaky
                    WHEN t % 29 = 7 THEN 0.02
                    WHEN t % 13 = 4 THEN 0.006
                    WHEN t % 31 = 9 THEN 0.003
                    ELSE 0.0 END AS p_fail,
                t % 11 = 2 AS clustered,                      -- fails with the bad repetitions
                CASE WHEN t % 37 = 1 THEN 1.2 + {u("t", "1")} ELSE
                    0.01 + 0.25 * {u("t", "2")} * {u("t", "3")} END AS base_s,
                t % 41 = 6 AS slowing
            FROM range({tests}) r(t)
            """
        )
        conn.execute(
            f"""
            INSERT INTO sessions (id, started_at, finished_at, label, targets, repeat, options,
                status, git_commit, git_branch, git_dirty, host, python_version,
                pytest_version, package_version, cwd)
            SELECT printf('2026%02d%02d-020000-%04x', 10 + (s // 28), s % 28 + 1, s * 7919 % 65536),
                TIMESTAMPTZ '2026-10-01 02:00:00+00' + to_days(s::INTEGER),
                TIMESTAMPTZ '2026-10-01 02:00:00+00' + to_days(s::INTEGER)
                    + to_minutes(({repetitions} * 2)::INTEGER),
                '{label}', ['tests/integration'], {repetitions}, '{{"jobs": 2}}',
                'completed', printf('%010x', (s // 4) * 104729 + 11), 'main', false,
                'ci-runner-3', '3.11.7', '9.0.1', '0.1.0', '/builds/app'
            FROM range({sessions}) r(s)
            """
        )
        conn.execute(
            f"""
            CREATE TEMP TABLE bench_reps AS
            SELECT s, n, se.id AS session_id,
                se.started_at + to_seconds((n * 97)::BIGINT) AS rep_at,
                CASE WHEN {u("s", "n", "'infra'")} < 0.004 THEN 'infra' END AS infra_status,
                {u("s", "n", "'bad'")} < 0.03 AS bad
            FROM range({sessions}) a(s)
            JOIN (SELECT id, row_number() OVER (ORDER BY started_at) - 1 AS k, started_at
                  FROM sessions WHERE label = '{label}') se ON se.k = a.s
            CROSS JOIN range(1, {repetitions} + 1) b(n)
            """
        )
        for session in range(sessions):  # in time order, as campaigns append them
            conn.execute(
                f"""
            INSERT INTO executions (session_id, repetition, nodeid, file, outcome, phase,
                setup_s, call_s, teardown_s, started_at, error_type, message, traceback,
                failure_signature, captured_output, infra)
            SELECT session_id, n, nodeid, split_part(nodeid, '::', 1), outcome,
                CASE WHEN outcome = 'error' THEN 'setup'
                     WHEN outcome IN ('failed', 'timeout') THEN 'call' END,
                CASE WHEN is_infra THEN 30.0 ELSE 0.002 + 0.01 * {u("s", "n", "t", "'su'")} END,
                CASE WHEN is_infra OR outcome = 'error' THEN NULL
                     ELSE base_s * (CASE WHEN slowing AND s >= {sessions} - 1 THEN 2.5 ELSE 1 END)
                          * (0.8 + 0.4 * {u("s", "n", "t", "'d'")})
                          + CASE WHEN {u("s", "n", "t", "'spike'")} < 0.01 THEN 1.5 ELSE 0 END
                END,
                0.001, rep_at + to_milliseconds((t * 40)::BIGINT),
                CASE WHEN outcome IN ('failed', 'error') THEN err END,
                CASE WHEN outcome IN ('failed', 'error') THEN msg
                     WHEN outcome = 'timeout' THEN 'Timeout: test did not finish in 60 s' END,
                CASE WHEN outcome IN ('failed', 'error') THEN
                    'Traceback (most recent call last):' || chr(10) ||
                    '  File "' || split_part(nodeid, '::', 1) || '", line ' || (40 + t % 60) ||
                    chr(10) || msg END,
                CASE WHEN outcome IN ('failed', 'error') THEN sig
                     WHEN outcome = 'timeout' THEN 'Timeout: test did not finish in <n> s' END,
                NULL, is_infra
            FROM (
                SELECT r.*, bt.*, r.infra_status IS NOT NULL AS is_infra,
                    CASE
                        WHEN r.infra_status IS NOT NULL THEN 'error'
                        WHEN bt.t % 53 = 50 THEN 'skipped'
                        WHEN bt.clustered AND r.bad THEN 'failed'
                        WHEN bt.t = 3 AND r.s = {sessions} - 1 AND {broken} THEN 'failed'
                        WHEN {u("r.s", "r.n", "bt.t")} < bt.p_fail THEN
                            CASE WHEN bt.t % 5 = 0 THEN 'error'
                                 WHEN {u("r.s", "r.n", "bt.t", "'to'")} < 0.05 THEN 'timeout'
                                 ELSE 'failed' END
                        ELSE 'passed' END AS outcome,
                    ['AssertionError', 'psycopg.errors.SerializationFailure',
                     'redis.exceptions.TimeoutError', 'psycopg.errors.UniqueViolation'
                    ][bt.t % 4 + 1] AS err,
                    [
                        'AssertionError: assert ' || (r.n % 7 + 1) || ' == ' || (r.n % 7 + 2),
                        'psycopg.errors.SerializationFailure: could not serialize access due '
                            || 'to concurrent update (tx ' || (r.n * 31 + bt.t) || ')',
                        'redis.exceptions.TimeoutError: Timeout reading from 127.0.0.1:'
                            || (32768 + (r.n * 131 + bt.t) % 20000),
                        'psycopg.errors.UniqueViolation: duplicate key value violates unique '
                            || 'constraint "orders_pkey" DETAIL: Key (id)=(' || r.n || ')'
                    ][bt.t % 4 + 1] AS msg,
                    [
                        'AssertionError: assert <n> == <n>',
                        'psycopg.errors.SerializationFailure: could not serialize access due '
                            || 'to concurrent update (tx <n>)',
                        'redis.exceptions.TimeoutError: Timeout reading from <addr>',
                        'psycopg.errors.UniqueViolation: duplicate key value violates unique '
                            || 'constraint "orders_pkey"'
                    ][bt.t % 4 + 1] AS sig
                FROM bench_reps r, bench_tests bt
                WHERE r.s = $s
            ) ORDER BY n, t
            """,
                {"s": session},
            )
        conn.execute(
            """
            INSERT INTO repetitions (session_id, number, worker, started_at, wall_s, exit_code,
                status)
            SELECT r.session_id, r.n, r.n % 2, r.rep_at, 60 + 40 * (hash(r.s, r.n) % 100) / 100.0,
                CASE WHEN r.infra_status IS NOT NULL THEN 3 WHEN f.k > 0 THEN 1 ELSE 0 END,
                coalesce(r.infra_status, CASE WHEN f.t > 0 THEN 'timeout'
                    WHEN f.k > 0 THEN 'failed' ELSE 'passed' END)
            FROM bench_reps r LEFT JOIN (
                SELECT session_id, repetition,
                    count(*) FILTER (WHERE outcome IN ('failed', 'error')) AS k,
                    count(*) FILTER (WHERE outcome = 'timeout') AS t
                FROM executions GROUP BY ALL
            ) f ON f.session_id = r.session_id AND f.repetition = r.n
            """
        )
        conn.execute(
            f"""
            INSERT INTO container_starts (session_id, repetition, service, image, started_at,
                ready_s, setup_s, ok, error)
            SELECT r.session_id, r.n, svc,
                CASE svc WHEN 'postgres' THEN 'postgres:16-alpine' ELSE 'redis:7-alpine' END,
                r.rep_at,
                CASE WHEN r.infra_status IS NOT NULL AND svc = 'postgres' THEN NULL
                     WHEN svc = 'postgres' THEN 2.2 + 2.5 * {u("r.s", "r.n", "'pg'")}
                          + CASE WHEN {u("r.s", "r.n", "'pgslow'")} < 0.01 THEN 28 ELSE 0 END
                     ELSE 0.25 + 0.3 * {u("r.s", "r.n", "'rd'")} END,
                CASE WHEN r.infra_status IS NOT NULL AND svc = 'postgres' THEN NULL
                     WHEN svc = 'postgres' THEN 3.1 + 2.5 * {u("r.s", "r.n", "'pg'")}
                     ELSE 0.3 + 0.3 * {u("r.s", "r.n", "'rd'")} END,
                NOT (r.infra_status IS NOT NULL AND svc = 'postgres'),
                CASE WHEN r.infra_status IS NOT NULL AND svc = 'postgres'
                     THEN 'postgres did not become ready within 30 s' END
            FROM bench_reps r, (VALUES ('postgres'), ('redis')) v(svc)
            """
        )
        conn.execute("COMMIT")
        if _has_summaries(conn):  # what ingest writes after each repetition
            from stability.store import summaries

            conn.execute("BEGIN TRANSACTION")
            summaries.refresh(conn)
            conn.execute("COMMIT")
        row = conn.execute("SELECT count(*) FROM executions").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--label", default="nightly")
    parser.add_argument("--broken", action="store_true", help="break a test in the last session")
    args = parser.parse_args()
    if args.path.exists():
        raise SystemExit(f"{args.path} exists: remove it first")
    started = time.perf_counter()
    total = generate(
        args.path, args.sessions, args.repetitions, args.tests, args.label, args.broken
    )
    size = args.path.stat().st_size / 2**20
    print(
        f"{args.path}: {total:,} executions ({args.sessions} sessions x {args.repetitions} "
        f"repetitions x {args.tests} tests) in {time.perf_counter() - started:.1f} s, "
        f"{size:.0f} MiB"
    )


if __name__ == "__main__":
    main()
