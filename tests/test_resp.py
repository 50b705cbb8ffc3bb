"""The Redis wire protocol of the leftover check's probe: parsing, a reply at a time,
from whatever the socket delivered so far."""

from __future__ import annotations

import pytest

from stability.containers import resp


def test_each_kind_of_reply() -> None:
    stream = b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n*-1\r\n-ERR no\r\n"
    replies, at = [], 0
    while at < len(stream):
        reply, at = resp._parse(stream, at)
        replies.append(reply)
    assert replies[:6] == [b"OK", 42, b"hello", None, [b"pong", b""], None]
    assert isinstance(replies[6], resp.RespError) and str(replies[6]) == "ERR no"


def test_a_reply_cut_anywhere_waits_for_the_rest() -> None:
    message = b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$18\r\n__keyevent@0__:set\r\n$5\r\nk\r\nx!\r\n"
    for cut in range(len(message)):
        with pytest.raises(resp._Incomplete):
            resp._parse(message[:cut], 0)
    reply, at = resp._parse(message + b"+PONG\r\n", 0)
    assert reply == [b"pmessage", b"*", b"__keyevent@0__:set", b"k\r\nx!"]
    assert resp._parse(message + b"+PONG\r\n", at) == (b"PONG", len(message) + 7)


def test_commands_are_sent_as_bulk_strings() -> None:
    assert resp._packed(("PING", b"a\r\nb")) == b"*2\r\n$4\r\nPING\r\n$4\r\na\r\nb\r\n"


def test_only_redis_urls() -> None:
    with pytest.raises(ValueError, match="redis:// URLs only, not rediss://"):
        resp.RespConnection("rediss://localhost:6379/0")
