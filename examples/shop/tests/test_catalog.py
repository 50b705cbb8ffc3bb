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
    # FLAKY (timing assumption): a search over the 60,000 seeded products takes a few
    # tens of milliseconds (34 ms on one machine here, 62 ms on a slower one), and the
    # test allows 10% more than the middle of three like it that it times first, so
    # on any machine the budget sits close to the real duration. Searches vary by more
    # than that now and then (here 7% of runs on an idle machine), more often on a
    # loaded one (a CI runner, or `stability run --jobs 2`). A wall-clock budget in a
    # functional test measures the machine, not the code.
    alike = sorted(_timed_search(pg_transaction, f"item {n}") for n in (4241, 4243, 4244))
    budget = 1.10 * alike[1]
    assert _timed_search(pg_transaction, "item 4242") < budget


def _timed_search(conn, term):
    started = time.perf_counter()
    search(conn, term)
    return time.perf_counter() - started
