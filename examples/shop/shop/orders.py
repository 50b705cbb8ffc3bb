"""Orders and their confirmation e-mails."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from shop.catalog import get_product, reserve


class OutOfStock(Exception):
    pass


def place_order(conn: Any, email: str, items: dict[str, int]) -> int:
    """Reserve stock and record an order; returns the order id."""
    row = conn.execute(
        "INSERT INTO customers (email) VALUES (%s) ON CONFLICT (email) "
        "DO UPDATE SET email = EXCLUDED.email RETURNING id",
        (email,),
    ).fetchone()
    customer_id = row[0]
    total = 0
    lines = []
    for sku, quantity in sorted(items.items()):
        product = get_product(conn, sku)
        if product is None or not reserve(conn, sku, quantity):
            raise OutOfStock(sku)
        total += product.price_cents * quantity
        lines.append((sku, quantity, product.price_cents))
    order_id = conn.execute(
        "INSERT INTO orders (customer_id, total_cents) VALUES (%s, %s) RETURNING id",
        (customer_id, total),
    ).fetchone()[0]
    conn.cursor().executemany(
        "INSERT INTO order_lines (order_id, sku, quantity, price_cents) VALUES (%s, %s, %s, %s)",
        [(order_id, *line) for line in lines],
    )
    return int(order_id)


def send_confirmation_async(url: str, order_id: int) -> threading.Thread:
    """Fire-and-forget: record the confirmation e-mail from a background thread.

    Nobody waits for it, so it may still be writing after the caller (or the test
    that called it) has finished.
    """

    def send() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO sent_emails (order_id, kind) VALUES (%s, 'confirmation')",
                (order_id,),
            )

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread
