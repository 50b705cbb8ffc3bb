"""Catalog: stable tests, and one with a timing assumption."""

from __future__ import annotations

import time

from shop.catalog import add_product, get_product, reserve, search


def test_seeded_catalog_is_there(pg_transaction):
    kettle = get_product(pg_transaction, "kettle-1")
    assert kettle is not None and kettle.price_cents == 2599


def test_add_and_fetch_product(pg_transaction):
    add_product(pg_transaction, "cup-7", "Espresso cup", 450, stock=3)
    assert get_product(pg_transaction, "cup-7").name == "Espresso cup"


def test_added_product_is_gone_in_the_next_test(pg_transaction):
    # pg_transaction rolled the previous test's insert back.
    assert get_product(pg_transaction, "cup-7") is None


def test_search_orders_by_price(pg_transaction):
    results = search(pg_transaction, "tea")
    assert [p.sku for p in results][:3] == ["tea-earl", "tea-sencha", "pot-2"]


def test_reserve_refuses_more_than_in_stock(pg_transaction):
    assert reserve(pg_transaction, "pot-2", 12)
    assert not reserve(pg_transaction, "pot-2", 1)
    assert get_product(pg_transaction, "pot-2").stock == 0


def test_search_answers_within_budget(pg_transaction):
    # FLAKY (timing assumption): a search over the 60,000 seeded products takes about
    # 34 ms on an idle machine here (p95 39 ms), and the test allows 38 ms. On a loaded
    # machine (a CI runner, or `stability run --jobs 2`) it runs over more often. A
    # wall-clock budget in a functional test measures the machine, not the code.
    started = time.perf_counter()
    search(pg_transaction, "item 4242")
    assert time.perf_counter() - started < 0.038
