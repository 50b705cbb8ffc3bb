"""What the pytest session knows of its services, for the modules beside the plugin.

The plugin (`stability.plugin`) defines the fixtures and keeps the session's
`ServiceManager` in the config's stash; the leftover check asks which fixtures mean a
service, the recorder which ports the session's containers publish. Both read it here,
so neither imports the plugin that imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from stability.containers.services import ServiceManager

# Fixtures that mean a test needs a service (their closure is what pytest reports).
SERVICE_FIXTURES = {
    "postgres": {"postgres_service", "postgres_container", "postgres_url", "pg_transaction"},
    "redis": {"redis_service", "redis_container", "redis_url", "redis_client"},
}

# The session's services, once a test asked for one (set by the plugin).
manager_key: pytest.StashKey[ServiceManager] = pytest.StashKey()


def service_ports(config: pytest.Config) -> set[int]:
    """The host ports of the containers this process started (none started: empty)."""
    manager = config.stash.get(manager_key, None)
    return manager.ports() if manager is not None else set()
