"""The Redis probe of the leftover check: the keys a window added, changed or removed.

Keyspace notifications (`notify-keyspace-events`, set on our own container) go to a
subscriber of ours, for every database. A marker (a PING on the subscriber's connection)
bounds the window exactly, since Redis answers in command order: every notification of
a command it ran before comes before the marker's answer. Then whether each key touched
still exists (`EXISTS`, one round trip for all), but for the keys the `redis_client`
fixture's emptying removed after their last event: it says so in the same stream, by a
message on `FLUSHED_CHANNEL` just before its FLUSHDB.

Both connections are bare sockets (`resp`). The marker is sent when a test ends and read
when the next starts, so its round trip overlaps pytest's own work.
"""

from __future__ import annotations

from typing import Any

from stability.containers.leftovers import redis_changes
from stability.containers.resp import RespConnection

_MARKER_TIMEOUT_S = 5.0
_EVENTS = b"__keyevent@*__:*"
_EVENTS_PREFIX = len(b"__keyevent@")
FLUSHED_CHANNEL = "pytest-stability:flushing"  # the number of a database about to be emptied


class RedisProbe:
    def __init__(self, url: str) -> None:
        self.url = url
        self._events = RespConnection(url)
        self._lookup: RespConnection | None = None  # for EXISTS, made when first needed
        try:
            reply = self._events.call("CONFIG", "GET", "notify-keyspace-events")
            flags = reply[1] if isinstance(reply, list) and len(reply) == 2 else None
            have = set(flags.decode()) if isinstance(flags, bytes) else set()
            wanted = "".join(sorted(have | set("EAn")))  # key events, all types, new keys
            if set(wanted) != have:
                self._events.call("CONFIG", "SET", "notify-keyspace-events", wanted)
            self._events.send(("PSUBSCRIBE", _EVENTS), ("SUBSCRIBE", FLUSHED_CHANNEL))
            self._events.read()
            self._events.read()  # both confirmations: a clean start
        except BaseException:
            self._events.close()
            raise
        self._marker = 0
        self._sent: bytes | None = None  # a marker sent, its answer not read yet

    def close(self) -> None:
        self._events.close()
        if self._lookup is not None:
            self._lookup.close()

    def end_window(self) -> None:
        """End the window now; `measure()` reads what it holds."""
        self._marker += 1
        self._sent = b"stability-leftovers-%d" % self._marker
        self._events.send((b"PING", self._sent))

    def measure(self) -> dict[str, Any] | None:
        if self._sent is None:
            self.end_window()
        pong, self._sent = [b"pong", self._sent], None
        events: list[tuple[str, str]] = []
        keys: dict[str, tuple[int, bytes]] = {}  # key -> its database and name as sent
        last: dict[str, int] = {}  # key -> how many events came up to its last
        flushing: dict[int, int] = {}  # database -> how many events came before it emptied
        while True:
            try:
                reply = self._events.read(_MARKER_TIMEOUT_S)
            except TimeoutError:
                break  # the marker never came (should not happen): what we have
            if reply == pong:
                break
            if not isinstance(reply, list) or len(reply) < 3:
                continue
            if reply[0] == b"pmessage":  # pattern, __keyevent@<db>__:<event>, key
                channel, name = reply[2], reply[3]
                assert isinstance(channel, bytes) and isinstance(name, bytes)
                db = int(channel[_EVENTS_PREFIX : channel.index(b"__:")])
                key = f"db{db}:{name.decode(errors='backslashreplace')}"
                keys[key] = (db, name)
                events.append((channel[channel.rindex(b":") + 1 :].decode(), key))
                last[key] = len(events)
            elif reply[0] == b"message" and isinstance(reply[2], bytes):
                flushing[int(reply[2])] = len(events)
        if not events:
            return None
        gone = {key for key, n in last.items() if flushing.get(keys[key][0], -1) >= n}
        exists = dict.fromkeys(gone, False)
        exists.update(self._exist({k: v for k, v in keys.items() if k not in gone}))
        return redis_changes(events, exists) or None

    def _exist(self, keys: dict[str, tuple[int, bytes]]) -> dict[str, bool]:
        """Whether each key exists now: one round trip for all (`SELECT` per database)."""
        if not keys:
            return {}
        if self._lookup is None:
            self._lookup = RespConnection(self.url)
        commands: list[tuple[str | bytes, ...]] = []
        ordered = sorted(keys.items(), key=lambda item: item[1][0])
        current = None
        for _, (db, name) in ordered:
            if db != current:
                commands.append(("SELECT", str(db)))
                current = db
            commands.append((b"EXISTS", name))
        self._lookup.send(*commands)
        answers = [self._lookup.read() for _ in commands]
        found = [a for c, a in zip(commands, answers, strict=True) if c[0] == b"EXISTS"]
        return {key: bool(n) for (key, _), n in zip(ordered, found, strict=True)}
