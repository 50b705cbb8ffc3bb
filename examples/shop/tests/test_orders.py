"""Orders: stable tests, a race between two connections, and a leftover from a test."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from shop.catalog import get_product, reserve_read_then_write
from shop.orders import OutOfStock, place_order, send_confirmation_async


def test_order_total_is_sum_of_lines(pg_transaction):
    order_id = place_order(pg_transaction, "ann@example.com", {"mug-12": 2, "tea-earl": 1})
    total = pg_transaction.execute(
        "SELECT total_cents FROM orders WHERE id = %s", (order_id,)
    ).fetchone()[0]
    assert total == 2 * 899 + 650


def test_order_reserves_stock(pg_transaction):
    place_order(pg_transaction, "bob@example.com", {"kettle-1": 3})
    assert get_product(pg_transaction, "kettle-1").stock == 37


def test_out_of_stock_order_is_refused(pg_transaction):
    with pytest.raises(OutOfStock):
        place_order(pg_transaction, "cat@example.com", {"pot-2": 13})


@pytest.fixture
def committed_product(postgres_url):
    """A product committed for real (two connections must see it), removed afterwards."""
    sku = f"race-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO products VALUES (%s, 'Race kettle', 1000, 10)", (sku,))
        yield sku
        conn.execute("DELETE FROM products WHERE sku = %s", (sku,))


def test_double_submit_reserves_twice(postgres_url, committed_product):
    # FLAKY (race between two connections): a customer double-clicks "buy". The legacy
    # checkout reads the stock and then writes `stock - 1` on its own connection; when
    # the two reads happen before either write, both write 9 and one reservation is
    # lost. Whether they interleave depends on thread scheduling.
    clicks = [
        threading.Thread(target=reserve_read_then_write, args=(postgres_url, committed_product, 1))
        for _ in range(2)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    with psycopg.connect(postgres_url) as conn:
        assert get_product(conn, committed_product).stock == 8


def test_order_confirmation_is_sent(pg_transaction, postgres_url):
    order_id = place_order(pg_transaction, "dan@example.com", {"mug-12": 1})
    # Fire-and-forget, as in production: the test does not wait for the e-mail.
    assert send_confirmation_async(postgres_url, order_id).is_alive() in (True, False)


def test_new_customer_has_received_no_email(pg_transaction):
    # FLAKY (depends on what another test left behind): the previous test's background
    # e-mail thread commits a row into sent_emails a few milliseconds after that test
    # ends. This test counts every row, not just its own customer's, so it fails when
    # the leftover thread commits before the count and passes when it does not.
    place_order(pg_transaction, "eve@example.com", {"tea-earl": 1})
    assert pg_transaction.execute("SELECT count(*) FROM sent_emails").fetchone()[0] == 0
