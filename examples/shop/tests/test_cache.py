"""The Redis cache: stable tests, and one that trips over a time boundary."""

from __future__ import annotations

from shop.cache import cache_flash_deal, cached_product, flash_deal, invalidate
from shop.catalog import search


def test_read_through_cache_fills_redis(redis_client, pg_transaction):
    product = cached_product(redis_client, pg_transaction, "tea-sencha")
    assert product is not None and product.price_cents == 790
    assert redis_client.ttl("product:tea-sencha") > 0


def test_cache_hit_does_not_touch_the_database(redis_client, pg_transaction):
    cached_product(redis_client, pg_transaction, "mug-12")
    pg_transaction.execute("UPDATE products SET price_cents = 1 WHERE sku = 'mug-12'")
    assert cached_product(redis_client, pg_transaction, "mug-12").price_cents == 899


def test_invalidate_reads_fresh_data(redis_client, pg_transaction):
    cached_product(redis_client, pg_transaction, "mug-12")
    pg_transaction.execute("UPDATE products SET price_cents = 1 WHERE sku = 'mug-12'")
    invalidate(redis_client, "mug-12")
    assert cached_product(redis_client, pg_transaction, "mug-12").price_cents == 1


def test_flash_deal_is_shown_on_the_product_page(redis_client, pg_transaction):
    # FLAKY (cache entry expiring at a time boundary): the deal is cached with EXPIREAT
    # at the next whole second, so it lives anywhere from 0 to 1 s. Rendering the page
    # (a search over the catalogue) takes tens of milliseconds; when the deal was set
    # that close to the end of a second, it is gone before the page reads it.
    cache_flash_deal(redis_client, "kettle-1", 1999)
    search(pg_transaction, "kettle")
    search(pg_transaction, "Bulk item 99")
    assert flash_deal(redis_client, "kettle-1") == 1999
