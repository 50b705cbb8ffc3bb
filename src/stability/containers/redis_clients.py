"""redis-py clients that skip the handshake commands a test server has no use for.

redis-py 7 and later sends, on every new connection, two `CLIENT SETINFO` (after reading
its own version from the installed package's metadata each time, about 1 ms) and, on
RESP3, `CLIENT MAINT_NOTIFICATIONS ON` (for Redis Enterprise's maintenance events). The
two `SETINFO` only name the library in `CLIENT LIST` (Redis 7.2 and later); Redis 7.0
refuses all three. On 2 cores they made the `redis_client` fixture's connection of every test
cost 5.2 ms instead of 2.9, 3.1 ms of CPU instead of 1.4 (connect, FLUSHDB, SET, FLUSHDB,
close; medians of 100 on a published port).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


def from_url(url: str, **kwargs: Any) -> Any:
    """`redis.Redis.from_url(url, **kwargs)`, without the handshake."""
    import redis

    return redis.Redis.from_url(url, **_quiet(), **kwargs)


def client(**kwargs: Any) -> Any:
    """`redis.Redis(**kwargs)`, without the handshake."""
    import redis

    return redis.Redis(**_quiet(), **kwargs)


@functools.cache
def _quiet() -> dict[str, Any]:
    import redis

    parameters = inspect.signature(redis.Redis.__init__).parameters
    if "driver_info" in parameters:  # redis-py 7+, where lib_name is deprecated
        quiet: dict[str, Any] = {"driver_info": None}
    else:
        quiet = {"lib_name": None, "lib_version": None}
    if "maint_notifications_config" in parameters:  # redis-py 7+, on RESP3
        from redis.maint_notifications import MaintNotificationsConfig

        quiet["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return quiet
