"""Suite-level numbers: red repetitions, tests by verdict and status, container start-up."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from stability.analysis.models import (
    ContainerStart,
    RepetitionRow,
    ServiceStartup,
    SuiteStats,
    TestStats,
)
from stability.analysis.rules import RED_REPETITION_STATUSES, STATUSES
from stability.analysis.stats import VERDICTS, quantile, rate

STARTUP_TARGET_S = 30.0


def is_failed_repetition(rep: RepetitionRow) -> bool:
    return rep.status != "infra" and (
        rep.failing_executions > 0 or rep.status in RED_REPETITION_STATUSES
    )


def container_startup(
    starts: Iterable[ContainerStart], target_s: float = STARTUP_TARGET_S
) -> tuple[ServiceStartup, ...]:
    """p50/p95/max of `ready_s` of the successful starts per service, failed starts apart;
    our services first, then the tests' own containers by image."""
    by_service: dict[tuple[str, str], list[ContainerStart]] = defaultdict(list)
    for start in starts:
        by_service[(start.origin, start.group)].append(start)
    result = []
    for origin, service in sorted(by_service, key=lambda k: (k[0] != "stability", k)):
        rows = by_service[(origin, service)]
        ready = sorted(s.ready_s for s in rows if s.ok and s.ready_s is not None)
        setup = sorted(s.setup_s for s in rows if s.ok and s.setup_s is not None)
        waits = sorted(s.wait_s for s in rows if s.ok and s.wait_s is not None)
        result.append(
            ServiceStartup(
                service=service,
                starts=len(rows),
                failed=sum(not s.ok for s in rows),
                p50_s=quantile(ready, 0.5) if ready else None,
                p95_s=quantile(ready, 0.95) if ready else None,
                max_s=ready[-1] if ready else None,
                over_target=sum(v > target_s for v in ready),
                setup_p95_s=quantile(setup, 0.95) if setup else None,
                origin=rows[0].origin,
                died=sum(s.died for s in rows),
                pooled=sum(s.pooled for s in rows),
                wait_p50_s=quantile(waits, 0.5) if waits else None,
            )
        )
    return tuple(result)


def suite_stats(
    tests: Sequence[TestStats],
    repetitions: Iterable[RepetitionRow],
    starts: Iterable[ContainerStart] = (),
    *,
    startup_target_s: float = STARTUP_TARGET_S,
) -> SuiteStats:
    reps = list(repetitions)
    infra_reps = sum(r.status == "infra" for r in reps)
    failed_reps = sum(is_failed_repetition(r) for r in reps)
    containers = container_startup(starts, startup_target_s)
    verdicts = Counter(t.verdict for t in tests)
    statuses = Counter(t.status for t in tests)
    return SuiteStats(
        repetitions=len(reps),
        infra_repetitions=infra_reps,
        failed_repetitions=failed_reps,
        failed_repetition_rate=rate(failed_reps, len(reps) - infra_reps),
        tests=len(tests),
        executions=sum(t.counts.executions for t in tests),
        decided=sum(t.counts.decided for t in tests),
        failures=sum(t.counts.failures for t in tests),
        infra_executions=sum(t.counts.infra for t in tests),
        failed_container_starts=sum(c.failed for c in containers),
        environment_executions=sum(t.counts.environment for t in tests),
        verdicts={v: verdicts.get(v, 0) for v in VERDICTS},
        statuses={s: statuses.get(s, 0) for s in STATUSES},
        slow_tests=sum(t.slow for t in tests),
        slowdowns=sum(t.slowdown for t in tests),
        containers=containers,
    )


def suite_signatures(tests: Iterable[TestStats]) -> list[tuple[str, int, int, str]]:
    """Signatures across tests: (signature, count, tests affected, example), commonest first."""
    count: Counter[str] = Counter()
    affected: Counter[str] = Counter()
    example: dict[str, str] = {}
    for test in tests:
        for sig in test.signatures:
            count[sig.signature] += sig.count
            affected[sig.signature] += 1
            example.setdefault(sig.signature, sig.example)
    return [(s, n, affected[s], example[s]) for s, n in count.most_common()]
