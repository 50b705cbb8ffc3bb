"""The report as JSON (`stability report --format json`, and `--json` elsewhere).

The shape is documented, key by key, in docs/report-json.md; `FORMAT` names its version
and only grows: keys are added, never renamed or removed.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from stability.analysis.causes import Diagnosis
from stability.analysis.leftovers import LeftoverSummary
from stability.analysis.models import (
    BINNED_QUANTILE_ERROR,
    ServiceStartup,
    SessionInfo,
    SignatureCounts,
    SuiteStats,
    TestStats,
    TrendPoint,
)
from stability.report import _format as f
from stability.report.build import Report

FORMAT = "pytest-stability/report/1"


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, digits)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def session_json(s: SessionInfo, *, counted: bool = False) -> dict[str, Any]:
    """A session; its counts only where they were computed (`stability sessions`), else
    null: an unknown count is not 0."""

    def count(value: int) -> int | None:
        return value if counted else None

    return {
        "id": s.id,
        "started_at": _time(s.started_at),
        "finished_at": _time(s.finished_at),
        "label": s.label,
        "targets": list(s.targets),
        "repeat": s.repeat,
        "status": s.status,
        "git_commit": s.git_commit,
        "git_branch": s.git_branch,
        "host": s.host,
        "conditions": s.conditions,
        "repetitions": count(s.repetitions),
        "failed_repetitions": count(s.failed_repetitions),
        "infra_repetitions": count(s.infra_repetitions),
        "executions": count(s.executions),
        "tests": count(s.tests),
    }


def signature_json(s: SignatureCounts) -> dict[str, Any]:
    return {
        "signature": s.signature,
        "count": s.count,
        "error_type": s.error_type,
        "first": {"session": s.first_session, "repetition": s.first_repetition},
        "last": {"session": s.last_session, "repetition": s.last_repetition},
        "example": s.example,
    }


def leftovers_json(s: LeftoverSummary | None) -> dict[str, Any] | None:
    """What a test left behind (None: nothing, in every execution checked)."""
    if s is None:
        return None
    return {
        "executions": s.executions,
        "of": s.checked,
        "latest": dict(s.latest),
        "description": s.description,
        "bypassed_transaction": s.bypassed_transaction,
        "late": s.late,
    }


def stats_json(t: TestStats, leftovers: LeftoverSummary | None = None) -> dict[str, Any]:
    c = t.counts
    return {
        "nodeid": c.nodeid,
        "executions": c.executions,
        "passed": c.passed,
        "failed": c.failed,
        "errors": c.errors,
        "timeouts": c.timeouts,
        "skipped": c.skipped,
        "xfailed": c.xfailed,
        "xpassed": c.xpassed,
        "infra": c.infra,
        "environment": c.environment,
        "decided": c.decided,
        "flake_rate": _num(t.flake_rate),
        "ci_low": _num(t.ci_low),
        "ci_high": _num(t.ci_high),
        "verdict": t.verdict,
        "runs_needed": t.runs_needed,
        "status": t.status,
        "flaky_on_one_commit": c.mixed_on_one_commit,
        "flip_rate": _num(t.flip_rate),
        "p50_s": _num(c.p50_s),
        "p95_s": _num(c.p95_s),
        "max_s": _num(c.max_s),
        "total_s": _num(c.total_s, 3),
        "container_s": _num(c.container_s, 3),
        "p95_with_containers_s": _num(c.p95_with_containers_s),
        "slow": t.slow,
        "slowdown": t.slowdown,
        "baseline_p50_s": _num(t.baseline_p50_s),
        "signatures": [signature_json(s) for s in t.signatures],
        "leftovers": leftovers_json(leftovers),
        **cause_json(t),
    }


def cause_json(t: TestStats) -> dict[str, Any]:
    """`cause` (null unless flaky), `polluters` (diagnosed; [] when none is known) and
    `cause_detail`: the reason, suspects from shuffled orders, the diagnosis."""
    found = t.cause
    if found is None:
        return {"cause": None, "polluters": [], "cause_detail": None}
    d = found.diagnosis
    return {
        "cause": found.cause,
        "polluters": list(found.polluters),
        "cause_detail": {
            "why": found.why,
            "suspects": list(found.suspects),
            "runs_test_p": _num(found.runs_p),
            "diagnosis": None if d is None else diagnosis_json(d),
        },
    }


def diagnosis_json(d: Diagnosis) -> dict[str, Any]:
    """A stored `stability diagnose` finding, as every JSON output shows it."""
    return {
        "session": d.session_id,
        "verdict": d.verdict,
        "polluters": list(d.polluters),
        "failing_order": list(d.failing_order),
        "failing_command": d.failing_command,
        "passing_command": d.passing_command,
        "probes": d.probes,
        "probe_session": d.probe_session,
    }


def service_json(s: ServiceStartup, target_s: float) -> dict[str, Any]:
    return {
        "service": s.service,
        "starts": s.starts,
        "failed": s.failed,
        "p50_s": _num(s.p50_s),
        "p95_s": _num(s.p95_s),
        "max_s": _num(s.max_s),
        "target_s": target_s,
        "over_target": s.over_target,
        "setup_p95_s": _num(s.setup_p95_s),
        "origin": s.origin,
        "died": s.died,
        "pooled": s.pooled,
        "wait_p50_s": _num(s.wait_p50_s),
    }


def suite_json(s: SuiteStats, startup_target_s: float) -> dict[str, Any]:
    return {
        "repetitions": s.repetitions,
        "infra_repetitions": s.infra_repetitions,
        "failed_repetitions": s.failed_repetitions,
        "failed_repetition_rate": _num(s.failed_repetition_rate),
        "tests": s.tests,
        "executions": s.executions,
        "decided": s.decided,
        "failures": s.failures,
        "infra_executions": s.infra_executions,
        "failed_container_starts": s.failed_container_starts,
        "environment_executions": s.environment_executions,
        "verdicts": dict(s.verdicts),
        "statuses": dict(s.statuses),
        "slow_tests": s.slow_tests,
        "slowdowns": s.slowdowns,
        "containers": [service_json(c, startup_target_s) for c in s.containers],
    }


def trend_json(p: TrendPoint) -> dict[str, Any]:
    return {
        "session": p.session_id,
        "started_at": _time(p.started_at),
        "git_commit": p.git_commit,
        "repetitions": p.repetitions,
        "failed_repetitions": p.failed_repetitions,
        "decided": p.decided,
        "failures": p.failures,
        "tests": p.tests,
        "flaky_tests": p.flaky_tests,
    }


def durations_json(report: Report) -> dict[str, Any]:
    """How p50 and p95 were computed: exact, or read from log-binned histograms."""
    binned = any(t.counts.binned for t in report.tests)
    return {
        "quantiles": "binned" if binned else "exact",
        "max_relative_error": BINNED_QUANTILE_ERROR if binned else 0.0,
        "note": f.durations_note(report.tests),
    }


def report_json(report: Report) -> dict[str, Any]:
    o = report.options
    left_by = {s.nodeid: s for s in report.leftovers}
    return {
        "format": FORMAT,
        "generated_at": _time(report.generated_at),
        "target": o.target,
        "confidence": 0.95,
        "slow_threshold_s": o.slow_threshold_s,
        "startup_target_s": o.startup_target_s,
        "scope": {
            "description": report.scope,
            "sessions": [session_json(s) for s in report.sessions],
            "baseline_session": report.baseline.id if report.baseline else None,
            "conditions": report.sessions[-1].conditions,
            "left_out_sessions": [session_json(s) for s in report.left_out],
        },
        "suite": suite_json(report.suite, o.startup_target_s),
        "tests": [stats_json(t, left_by.get(t.nodeid)) for t in report.tests],
        "durations": durations_json(report),
        "trend": [trend_json(p) for p in report.trend],
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)


def write_json(report: Report, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    path.write_text(dumps(report_json(report)) + "\n", encoding="utf-8")
    return path
