"""Customers: an order-dependent pair on PostgreSQL, and a self-polluting test."""

from __future__ import annotations

import psycopg
from shop.customers import count_customers, import_customers, issue_welcome_code


def test_only_the_seed_customer_exists(pg_transaction):
    # ORDER-DEPENDENT (its polluter: test_import_from_the_old_shop, in this file). It
    # counts every customer, rows other tests committed included. In the declared order
    # it runs first and passes; after the import it fails. `stability run --shuffle`
    # makes it flaky, `stability diagnose` names the polluter.
    assert count_customers(pg_transaction) == 1


def test_welcome_code_is_issued_once():
    # SELF-POLLUTING: the codes already issued live in a module-level set, so the test
    # passes on its first run in a process and fails on the next one in the same process
    # (`stability run --in-process 2`). Fresh processes never show it.
    assert issue_welcome_code("spring") == "SPRING-WELCOME"


def test_import_from_the_old_shop(postgres_url):
    # The POLLUTER of test_only_the_seed_customer_exists: it imports through its own
    # connection and commits, outside the rolled-back transaction, and never cleans up.
    with psycopg.connect(postgres_url) as conn:
        new = import_customers(conn, ["old-1@example.com", "old-2@example.com"])
        conn.commit()
    assert new in (0, 2)
