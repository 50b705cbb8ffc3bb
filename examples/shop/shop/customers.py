"""Customers: counting them, importing them, and welcome codes."""

from __future__ import annotations

from typing import Any

_issued_codes: set[str] = set()  # codes handed out by this process


def count_customers(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM customers").fetchone()[0])


def import_customers(conn: Any, emails: list[str]) -> int:
    """Insert the customers that do not exist yet; returns how many were new."""
    cur = conn.cursor()
    cur.executemany(
        "INSERT INTO customers (email) VALUES (%s) ON CONFLICT (email) DO NOTHING",
        [(e,) for e in emails],
    )
    return cur.rowcount


def issue_welcome_code(campaign: str) -> str:
    """A one-time code per campaign; issuing the same one twice is refused."""
    code = f"{campaign.upper()}-WELCOME"
    if code in _issued_codes:
        raise ValueError(f"code {code} was already issued")
    _issued_codes.add(code)
    return code
