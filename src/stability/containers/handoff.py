"""Containers the runner started ahead for one repetition, handed to its pytest process.

The runner's pool (`stability.runner.pool`) starts a repetition's containers while
earlier repetitions run, and puts one `Handoff` per service into that repetition's
environment. The plugin claims them at configure time (removing them from the
environment, so a pytest a test starts never takes them too) and uses one only when
its key matches what the plugin would have started itself; otherwise it starts its
own, and the runner removes the unused one with the repetition.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from stability.containers.config import Settings

ENV_PREFIX = "STABILITY_POOLED_"


@dataclass(frozen=True)
class Handoff:
    service: str
    container_id: str
    image: str
    host: str
    port: int
    ready_s: float  # the real start, asking to answering, as the pool measured it
    started_at: str  # when the pool asked for it (ISO 8601, UTC)
    key: str  # what it was made from (`service_key`)
    url: str  # how a client connects (credentials from the project's settings)
    # PostgreSQL from a snapshot: what its image holds, for the leftover check's probe
    # (`pg_baseline`, encoded, as `snapshot.baseline_label` reads it)
    baseline: str | None = None

    def env(self) -> dict[str, str]:
        return {ENV_PREFIX + self.service.upper(): json.dumps(asdict(self))}


def service_key(service: str, settings: Settings) -> str:
    """What a started `service` depends on: equal keys, interchangeable containers."""
    if service == "postgres":
        from stability.containers.snapshot import content_key

        return f"snapshot:{content_key(settings)}" if settings.snapshot else "no-snapshot"
    return settings.redis_image


def claim_all() -> dict[str, Handoff]:
    """Take the handed-over containers out of this process's environment."""
    claimed = {}
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        text = os.environ.pop(name)
        try:
            handoff = Handoff(**json.loads(text))
        except (ValueError, TypeError):
            continue  # not ours to understand: start our own
        claimed[handoff.service] = handoff
    return claimed
