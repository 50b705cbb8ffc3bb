"""SQL fragments shared by the queries (one definition of "infra" and "in scope")."""

from __future__ import annotations

from stability.analysis.rules import (
    DECIDED_OUTCOMES,
    FAILED_OUTCOMES,
    FAILING_OUTCOMES,
    RED_REPETITION_STATUSES,
)


def _sql_list(values: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


IN_SCOPE = "session_id = ANY($ids::VARCHAR[])"
# An execution is infra when flagged, or when its repetition could not start containers.
INFRA = "(coalesce(e.infra, false) OR coalesce(r.status, '') = 'infra')"
# An environment failure: a failing execution flagged by the recorder (network, DNS).
ENVIRONMENT = f"(coalesce(e.environment, false) AND e.outcome IN {_sql_list(FAILING_OUTCOMES)})"
SIGNATURE = (
    "coalesce(nullif(trim(e.failure_signature), ''), nullif(trim(e.error_type), ''), e.outcome)"
)


# The outcome sets of `stability.analysis.rules`, as SQL lists.
FAILED = _sql_list(FAILED_OUTCOMES)
FAILING = _sql_list(FAILING_OUTCOMES)
DECIDED = _sql_list(DECIDED_OUTCOMES)
RED_STATUSES = _sql_list(RED_REPETITION_STATUSES)
# Chronological order of rows carrying the session's start and id.
ORDER = "s_start, session_id, repetition, e_start"
