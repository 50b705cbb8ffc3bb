"""A bare Redis connection (RESP2 on a socket) for the leftover check's Redis probe.

The probe sends a marker after every test and reads what came before it. Through
redis-py (pure-Python parser, its connection's health checks and push handling) that
cost about 190 µs of CPU a test in a pytest run, more than PostgreSQL's window query;
on a socket of its own, with only the replies the probe reads parsed, it costs a
fraction. Only `redis://` URLs (our containers): no TLS, no RESP3.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import unquote, urlsplit

Reply = bytes | int | list["Reply"] | None


class RespError(Exception):
    """Redis answered a command with an error."""


class _Incomplete(Exception):
    pass


class RespConnection:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError(f"the leftover check reads redis:// URLs only, not {parts.scheme}://")
        self.timeout = timeout
        self.sock = socket.create_connection(
            (parts.hostname or "localhost", parts.port or 6379), timeout=timeout
        )
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""
        self._at = 0  # where the next reply starts in the buffer
        if parts.password is not None:
            user = [unquote(parts.username)] if parts.username else []
            self.call("AUTH", *user, unquote(parts.password))

    def close(self) -> None:
        self.sock.close()

    def send(self, *commands: tuple[str | bytes, ...]) -> None:
        """Send commands at once, without reading their replies."""
        self.sock.settimeout(self.timeout)  # not what is left of the last read's
        self.sock.sendall(b"".join(_packed(command) for command in commands))

    def call(self, *command: str | bytes) -> Reply:
        self.send(command)
        return self.read()

    def read(self, timeout: float | None = None) -> Reply:
        """The next reply (a command's, or a message pushed to a subscriber); an error
        reply raises RespError, no reply within `timeout` (default: the connection's)
        raises TimeoutError."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                reply, self._at = _parse(self._buffer, self._at)
            except _Incomplete:
                self._receive(deadline)
                continue
            if isinstance(reply, RespError):
                raise reply
            return reply

    def _receive(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply from Redis in time")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            raise TimeoutError("no reply from Redis in time") from None
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        self._buffer = self._buffer[self._at :] + chunk
        self._at = 0


def _packed(command: tuple[str | bytes, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _parse(buffer: bytes, at: int) -> tuple[Reply | RespError, int]:
    """One reply from `buffer` at `at`, and where the next starts."""
    end = buffer.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind, line, at = buffer[at : at + 1], buffer[at + 1 : end], end + 2
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, at
        if len(buffer) < at + size + 2:
            raise _Incomplete
        return buffer[at : at + size], at + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, at
        items: list[Reply] = []
        for _ in range(count):
            item, at = _parse(buffer, at)
            items.append(item if not isinstance(item, RespError) else None)
        return items, at
    if kind == b":":
        return int(line), at
    if kind == b"+":
        return line, at
    if kind == b"-":
        return RespError(line.decode(errors="replace")), at
    raise ConnectionError(f"not a Redis reply: {kind!r}")
