"""Seed data, applied once per PostgreSQL container after the migrations."""

from __future__ import annotations

from typing import Any

CATALOG = [
    ("kettle-1", "Stainless kettle", 2599, 40),
    ("mug-12", "Stoneware mug", 899, 200),
    ("tea-earl", "Earl Grey tea, 100 g", 650, 75),
    ("tea-sencha", "Sencha tea, 100 g", 790, 60),
    ("pot-2", "Cast iron teapot", 4500, 12),
]


def load(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO products (sku, name, price_cents, stock) VALUES (%s, %s, %s, %s)",
            CATALOG,
        )
        # A realistic catalogue size for the search tests.
        cur.execute(
            """
            INSERT INTO products (sku, name, price_cents, stock)
            SELECT 'bulk-' || i, 'Bulk item ' || i || ' ' || md5(i::text), 100 + i % 5000, i % 50
            FROM generate_series(1, 60000) AS i
            """
        )
        cur.execute("INSERT INTO customers (email) VALUES ('seed@example.com')")
