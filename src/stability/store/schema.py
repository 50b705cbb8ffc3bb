"""The DuckDB schema of the history, with forward migrations.

Table and column names here are a public contract (documented in the README for users
who query the history with SQL): add columns freely, never rename or drop.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from stability.store import summaries

SCHEMA_VERSION = 8

# Each entry upgrades the schema from version i to i + 1 (index 0: empty -> 1): SQL, or a
# function of the connection for a step that derives rows (run in the same transaction).
Migration = str | Callable[[duckdb.DuckDBPyConnection], None]
MIGRATIONS: list[Migration] = [
    """
    CREATE TABLE IF NOT EXISTS schema_info (
        version INTEGER NOT NULL,
        upgraded_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS sessions (
        id VARCHAR PRIMARY KEY,            -- short unique id, e.g. '20261125-131500-ab12'
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        label VARCHAR,
        targets VARCHAR[] NOT NULL,
        repeat INTEGER NOT NULL,           -- N asked for
        options JSON,                      -- jobs, timeout, until_fail, pytest args, ...
        status VARCHAR,                    -- running, completed, interrupted, stopped_at_failure
        git_commit VARCHAR,
        git_branch VARCHAR,
        git_dirty BOOLEAN,
        host VARCHAR,
        python_version VARCHAR,
        pytest_version VARCHAR,
        package_version VARCHAR,
        cwd VARCHAR
    );
    CREATE TABLE IF NOT EXISTS repetitions (
        session_id VARCHAR NOT NULL,
        number INTEGER NOT NULL,           -- 1..N
        worker INTEGER,                    -- which of the --jobs slots ran it
        started_at TIMESTAMPTZ NOT NULL,
        wall_s DOUBLE,
        exit_code INTEGER,
        status VARCHAR NOT NULL,           -- passed, failed, timeout, crashed, infra
        error VARCHAR,                     -- why it timed out, crashed or hit infra (bounded)
        PRIMARY KEY (session_id, number)
    );
    CREATE TABLE IF NOT EXISTS executions (
        session_id VARCHAR NOT NULL,
        repetition INTEGER NOT NULL,
        nodeid VARCHAR NOT NULL,           -- as pytest prints it
        file VARCHAR,
        outcome VARCHAR NOT NULL,  -- passed failed error skipped xfailed xpassed timeout crashed
        phase VARCHAR,                     -- failing phase: collect, setup, call, teardown
        setup_s DOUBLE,
        call_s DOUBLE,
        teardown_s DOUBLE,
        started_at TIMESTAMPTZ,
        error_type VARCHAR,
        message VARCHAR,                   -- bounded
        traceback VARCHAR,                 -- bounded
        failure_signature VARCHAR,         -- message with volatile parts normalised
        captured_output VARCHAR,           -- failures only, bounded
        infra BOOLEAN DEFAULT false        -- failed because a container could not start
    );
    CREATE TABLE IF NOT EXISTS container_starts (
        session_id VARCHAR NOT NULL,
        repetition INTEGER NOT NULL,
        service VARCHAR NOT NULL,          -- postgres, redis
        image VARCHAR,
        started_at TIMESTAMPTZ,
        ready_s DOUBLE,                    -- asking to answering
        setup_s DOUBLE,                    -- including migrations and seed
        ok BOOLEAN NOT NULL,
        error VARCHAR
    );
    CREATE TABLE IF NOT EXISTS container_logs (
        session_id VARCHAR NOT NULL,
        repetition INTEGER NOT NULL,
        service VARCHAR NOT NULL,
        logs VARCHAR                       -- kept for repetitions with a failure
    );
    """,
    # 2: sharded campaigns (`stability run --shard I/N`) and merged histories: which
    # shard and host ran each repetition.
    """
    ALTER TABLE repetitions ADD COLUMN IF NOT EXISTS shard VARCHAR;   -- '2/4', NULL unsharded
    ALTER TABLE repetitions ADD COLUMN IF NOT EXISTS host VARCHAR;    -- machine that ran it
    """,
    # 3: where a failure happened in the project (part of its signature), and failures
    # of an unreachable network / unresolvable name, counted apart like infra.
    """
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS failure_frame VARCHAR;
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS environment BOOLEAN DEFAULT false;
    """,
    # 4: run orders and attempts (`run --shuffle`, `--in-process`), `stability diagnose`
    """
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS position INTEGER;  -- order it started in
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS attempt INTEGER DEFAULT 1;  -- run number
    ALTER TABLE repetitions ADD COLUMN IF NOT EXISTS seed BIGINT;  -- shuffled order, NULL: declared
    ALTER TABLE sessions ADD COLUMN IF NOT EXISTS kind VARCHAR DEFAULT 'run';  -- diagnose: probes
    CREATE TABLE IF NOT EXISTS diagnoses (
        session_id VARCHAR NOT NULL,       -- the session whose failing order was diagnosed
        nodeid VARCHAR NOT NULL,           -- the victim
        verdict VARCHAR NOT NULL,          -- polluted, fails-alone, does-not-replay, inconclusive
        polluters VARCHAR[],               -- the smallest set that, run before it, fails it
        failing_order VARCHAR[],           -- the smallest failing order (victim last)
        failing_command VARCHAR,
        passing_command VARCHAR,
        probes INTEGER,
        probe_session VARCHAR,             -- the `diagnose` session holding the probes
        created_at TIMESTAMPTZ NOT NULL
    );
    """,
    # 5: the tests' own containers (issue 15), and the time each test phase spent starting
    # and stopping containers
    """
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS setup_container_s DOUBLE;
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS call_container_s DOUBLE;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS origin VARCHAR DEFAULT 'stability';
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS container_id VARCHAR;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS nodeid VARCHAR;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS running_s DOUBLE;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS ended_at TIMESTAMPTZ;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS died BOOLEAN DEFAULT false;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS exit_code INTEGER;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS oom BOOLEAN;
    """,
    # 6: what each test left behind in PostgreSQL/Redis (the leftover check)
    """
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS leftovers VARCHAR;  -- JSON, NULL: clean
    """,
    # 7: containers started ahead by the runner's pool; what a test waited for its service
    """
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS wait_s DOUBLE;
    ALTER TABLE container_starts ADD COLUMN IF NOT EXISTS pooled BOOLEAN DEFAULT false;
    """,
    # 8: per-(session, test) summaries, which the reports and `check` read instead of
    # every execution; derived from the executions (backfilled here), never edited by hand
    summaries.backfill,
]
