"""Reporting queries: correct every time, but slow."""

from __future__ import annotations


def test_monthly_revenue_over_a_year_of_orders(pg_transaction):
    pg_transaction.execute(
        """
        INSERT INTO orders (customer_id, total_cents, placed_at)
        SELECT 1, 100 + i % 900, timestamptz '2026-01-01' + (i % 365) * interval '1 day'
        FROM generate_series(1, 400000) AS i
        """
    )
    months = pg_transaction.execute(
        "SELECT date_trunc('month', placed_at) AS m, sum(total_cents) FROM orders "
        "GROUP BY m ORDER BY m"
    ).fetchall()
    assert len(months) == 12
    assert sum(total for _, total in months) == sum(100 + i % 900 for i in range(1, 400001))


def test_bulk_price_update(pg_transaction):
    updated = pg_transaction.execute(
        "UPDATE products SET price_cents = price_cents + 1 WHERE sku LIKE 'bulk-%'"
    ).rowcount
    assert updated == 60000
