"""The container layer: PostgreSQL and Redis for tests, started lazily and in parallel.

Owns everything Docker: settings (`config`), starting and readiness (`launch`, and
`host_network` for where they listen: the only testcontainers importers), the session's
services (`services`), labels, cleanup and the reaper, the offline images (`images`,
`dockerfiles/`), watching the containers tests start themselves (`sdk_patch`, `watch`,
`health`), and the leftover check (`leftover_watch`, `state_probes`, `pg_decoding`,
`decoded_rows`, `pg_state`). The pytest fixtures over it
are in `stability.plugin`.
"""
