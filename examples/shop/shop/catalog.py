"""Products and stock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    stock: int


def add_product(conn: Any, sku: str, name: str, price_cents: int, stock: int = 0) -> Product:
    conn.execute(
        "INSERT INTO products (sku, name, price_cents, stock) VALUES (%s, %s, %s, %s)",
        (sku, name, price_cents, stock),
    )
    return Product(sku, name, price_cents, stock)


def get_product(conn: Any, sku: str) -> Product | None:
    row = conn.execute(
        "SELECT sku, name, price_cents, stock FROM products WHERE sku = %s", (sku,)
    ).fetchone()
    return Product(*row) if row else None


def search(conn: Any, term: str, limit: int = 20) -> list[Product]:
    rows = conn.execute(
        "SELECT sku, name, price_cents, stock FROM products WHERE name ILIKE %s "
        "ORDER BY price_cents, sku LIMIT %s",
        (f"%{term}%", limit),
    ).fetchall()
    return [Product(*row) for row in rows]


def reserve(conn: Any, sku: str, quantity: int) -> bool:
    """Take `quantity` from stock atomically; False when there is not enough."""
    row = conn.execute(
        "UPDATE products SET stock = stock - %s WHERE sku = %s AND stock >= %s RETURNING stock",
        (quantity, sku, quantity),
    ).fetchone()
    return row is not None


def reserve_read_then_write(url: str, sku: str, quantity: int) -> None:
    """The legacy checkout path: read the stock, then write the new value.

    Two checkouts of the same product at once can both read the same stock and
    both write `stock - quantity`: one reservation is lost (a lost update). The
    test of the double-submit case is flaky because of it.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT stock FROM products WHERE sku = %s", (sku,)).fetchone()
        assert row is not None
        conn.execute("UPDATE products SET stock = %s WHERE sku = %s", (row[0] - quantity, sku))
