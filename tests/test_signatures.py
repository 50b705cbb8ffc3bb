"""Failure signatures: one cause, one signature, whatever the volatile details."""

from __future__ import annotations

import pytest

from stability.analysis.signatures import MAX_SIGNATURE, failure_signature


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("connection refused on port 54321", "connection refused on port 40007"),
        ("could not connect to localhost:49153", "could not connect to localhost:32768"),
        ("server at 172.17.0.3:5432 went away", "server at 172.17.0.9:5432 went away"),
        ("<Conn object at 0x7f3a9c10>", "<Conn object at 0x55d1e2a0>"),
        ("container 3f9a1c2b7d8e not running", "container a1b2c3d4e5f6 not running"),
        (
            "order 9b2f4c1e-8d7a-4b3c-9e1f-2a3b4c5d6e7f missing",
            "order 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0 missing",
        ),
        (
            "cannot read /tmp/pytest-of-ci/pytest-12/test_x0/data.json",
            "cannot read /tmp/pytest-of-ci/pytest-13/test_x1/data.json",
        ),
        ("missing /tmp/tmpab12cd/out.txt", "missing /tmp/tmpzz99yy/out.txt"),
        ("timed out after 30.5 s", "timed out after 31.25 s"),
        ("at 2026-01-02T03:04:05.123Z job failed", "at 2026-11-25T13:00:00+00:00 job failed"),
        ("assert 3 == 4", "assert 17 == 4"),
    ],
)
def test_volatile_parts_do_not_split_one_cause(first: str, second: str) -> None:
    assert failure_signature(first, "Error") == failure_signature(second, "Error")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("connection refused", "permission denied"),
        ('relation "orders" does not exist', 'relation "users" does not exist'),
    ],
)
def test_different_causes_stay_apart(first: str, second: str) -> None:
    assert failure_signature(first, "Error") != failure_signature(second, "Error")


def test_shape_of_a_signature() -> None:
    signature = failure_signature("port 5432 refused after 1.5s at 0x7f3a9c", "ConnectionError")
    assert signature == "ConnectionError: port <port> refused after <n>s at <hex>"
    # the type already leads the message: not repeated
    assert failure_signature("ValueError: bad 3", "ValueError") == "ValueError: bad <n>"


def test_only_the_first_line_counts_and_length_is_bounded() -> None:
    assert failure_signature("assert 1 == 2\n  + where 1 = f()", "AssertionError") == (
        "AssertionError: assert <n> == <n>"
    )
    assert len(failure_signature("x" * 5000, "E") or "") == MAX_SIGNATURE


def test_nothing_to_go_on() -> None:
    assert failure_signature(None, None) is None
    assert failure_signature("", "TimeoutError") == "TimeoutError"
    assert failure_signature("boom", None) == "boom"
