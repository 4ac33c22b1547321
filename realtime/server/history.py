"""Event history for Socket.IO connection state recovery (Socket.IO >= 4.6 semantics).

Every event published to a room gets an offset, and the last argument of the EVENT the
client receives is that offset. A client that reconnects within the recovery window sends
back `{pid, offset}`; the server restores its rooms and replays every entry after `offset`
in those rooms, in order.

With Redis the history is ONE stream (`XADD ... MAXLEN ~ N`): one total order for every room
and every process, so a reconnect may land on any process. Without Redis (embedded
default, one process) it is a bounded in-memory deque.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import orjson

#: Redis keys, under the deployment's prefix (`CHANNEL_LAYER_PREFIX`, the channel layer's):
#: several deployments may share one Redis without seeing each other's events or sessions.
STREAM_KEY = "rt:history"
SESSION_KEY = "rt:session:{pid}"


def prefixed(prefix: str, key: str) -> str:
    return f"{prefix}:{key}" if prefix else key


def channel_layer_prefix() -> str:
    """The key prefix of the default channel layer (settings.CHANNEL_LAYERS), "" if none."""
    from django.conf import settings

    layer = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {})
    return str(layer.get("CONFIG", {}).get("prefix", "") or "")


@dataclass(frozen=True, slots=True)
class Entry:
    offset: str
    room: str
    body: str  # the JSON array [event, *args], without the offset


def parse_offset(offset: str) -> tuple[int, int]:
    """Offsets are Redis stream ids `ms-seq` (the memory store uses `0-n`)."""
    ms, _, seq = offset.partition("-")
    return int(ms), int(seq or 0)


def is_offset(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        parse_offset(value)
    except ValueError:
        return False
    return True


def frame_with_offset(body: str, offset: str) -> str:
    """The Engine.IO frame of EVENT `body` (a JSON array) with `offset` as its last argument."""
    return f'42{body[:-1]},"{offset}"]'


def frame_offset(frame: str) -> str | None:
    """The offset a room event's frame carries as its last argument, or None.

    Used only while a recovering socket holds its live frames, to drop those already
    replayed. A frame published without an offset (history unavailable) whose last argument
    is a string shaped like an offset would be misread; such frames are rare and carry
    nothing a recovering client relies on."""
    if not frame.endswith('"]'):
        return None
    start = frame.rfind(',"', 0, len(frame) - 2)
    if start < 0:
        return None
    candidate = frame[start + 2:-2]
    return candidate if is_offset(candidate) else None


class EventHistory(Protocol):
    async def append(self, room: str, body: str) -> str: ...
    async def head(self) -> str: ...
    async def since(self, offset: str, rooms: Iterable[str]) -> list[Entry] | None: ...
    async def save_session(self, pid: str, record: dict, ttl_seconds: float) -> None: ...
    async def take_session(self, pid: str) -> dict | None: ...
    async def keep_sessions(self, *, save: dict[str, dict], touch: list[str],
                            drop: list[str], ttl_seconds: float) -> None: ...
    async def aclose(self) -> None: ...


class MemoryEventHistory:
    """One process: a bounded deque of entries and a dict of parked sessions."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.entries: deque[Entry] = deque(maxlen=max_entries)
        self.sessions: dict[str, tuple[float, dict]] = {}
        self._counter = itertools.count(1)
        self._last = "0-0"

    async def append(self, room: str, body: str) -> str:
        self._last = f"0-{next(self._counter)}"
        self.entries.append(Entry(self._last, room, body))
        return self._last

    async def head(self) -> str:
        return self._last

    async def since(self, offset: str, rooms: Iterable[str]) -> list[Entry] | None:
        after = parse_offset(offset)
        if self.entries and parse_offset(self.entries[0].offset) > (after[0], after[1] + 1):
            return None  # entries after `offset` were already dropped: cannot recover
        wanted = set(rooms)
        return [e for e in self.entries if parse_offset(e.offset) > after and e.room in wanted]

    async def save_session(self, pid: str, record: dict, ttl_seconds: float) -> None:
        now = time.monotonic()
        self.sessions = {k: v for k, v in self.sessions.items() if v[0] > now}
        self.sessions[pid] = (now + ttl_seconds, record)

    async def take_session(self, pid: str) -> dict | None:
        expires, record = self.sessions.pop(pid, (0.0, None))
        return record if expires > time.monotonic() else None

    async def keep_sessions(self, *, save: dict[str, dict], touch: list[str],
                            drop: list[str], ttl_seconds: float) -> None:
        """Live sessions' records (realtime/server/sio/records.py): write `save`, extend
        the life of the records of `touch` that exist, delete those of `drop`."""
        now = time.monotonic()
        for pid, record in save.items():
            self.sessions[pid] = (now + ttl_seconds, record)
        for pid in touch:
            kept = self.sessions.get(pid)
            if kept is not None and kept[0] > now:
                self.sessions[pid] = (now + ttl_seconds, kept[1])
        for pid in drop:
            self.sessions.pop(pid, None)

    async def aclose(self) -> None:
        pass


class RedisEventHistory:
    def __init__(self, url: str, *, max_entries: int = 100_000, prefix: str = "",
                 key: str | None = None) -> None:
        import redis.asyncio as redis

        # A blocking pool: in a reconnect storm every connect reads the history head, and a
        # connect must wait for one of the 64 connections rather than fail.
        pool = blocking_pool(url, max_connections=64, timeout=5, socket_timeout=5,
                             socket_connect_timeout=2, retry_on_timeout=True)
        self.redis = redis.Redis.from_pool(pool)  # aclose() closes the pool too
        self.max_entries = max_entries
        self.prefix = prefix
        self.key = key if key is not None else prefixed(prefix, STREAM_KEY)

    def session_key(self, pid: str) -> str:
        return prefixed(self.prefix, SESSION_KEY.format(pid=pid))

    async def append(self, room: str, body: str) -> str:
        offset = await self.redis.xadd(self.key, {"r": room, "b": body},
                                       maxlen=self.max_entries, approximate=True)
        return offset.decode()

    async def head(self) -> str:
        last = await self.redis.xrevrange(self.key, count=1)
        return last[0][0].decode() if last else "0-0"

    async def since(self, offset: str, rooms: Iterable[str]) -> list[Entry] | None:
        wanted = set(rooms)
        entries: list[Entry] = []
        cursor = f"({offset}"
        while True:
            batch = await self.redis.xrange(self.key, min=cursor, count=1000)
            for raw_id, fields in batch:
                room = fields[b"r"].decode()
                if room in wanted:
                    entries.append(Entry(raw_id.decode(), room, fields[b"b"].decode()))
            if len(batch) < 1000:
                break
            cursor = "(" + batch[-1][0].decode()
        # Checked after reading: if nothing after `offset` had been trimmed by now, the
        # read above saw every entry (trimming only ever removes the oldest ones).
        if await self._trimmed_after(offset):
            return None  # entries after `offset` were trimmed: cannot recover
        return entries

    async def _trimmed_after(self, offset: str) -> bool:
        import redis.exceptions

        try:
            info = await self.redis.xinfo_stream(self.key)
        except redis.exceptions.ResponseError:
            return False  # no stream yet: nothing was published, nothing was trimmed
        # Only trimming removes entries (no XDEL), always the oldest ones: whatever was
        # trimmed is older than the first entry left. (`max-deleted-entry-id` does not
        # count trimmed entries.) Whether an entry between `offset` and that first entry
        # existed is unknown: if anything was trimmed, assume it did.
        length = info.get("length", 0)
        added = info.get("entries-added")  # Redis >= 7
        trimmed = added > length if added is not None else length >= self.max_entries
        if not trimmed:
            return False
        first = info.get("first-entry")
        if not first:
            return True
        return parse_offset(_text(first[0])) > parse_offset(offset)

    async def save_session(self, pid: str, record: dict, ttl_seconds: float) -> None:
        await self.redis.set(self.session_key(pid), orjson.dumps(record),
                             px=max(1, int(ttl_seconds * 1000)))

    async def take_session(self, pid: str) -> dict | None:
        raw = await self.redis.getdel(self.session_key(pid))
        return orjson.loads(raw) if raw else None

    async def keep_sessions(self, *, save: dict[str, dict], touch: list[str],
                            drop: list[str], ttl_seconds: float) -> None:
        """Live sessions' records (realtime/server/sio/records.py), in one pipeline
        (no transaction: each command stands alone): SET `save`, PEXPIRE `touch` (a record
        taken meanwhile by a recovery is not recreated), DEL `drop`."""
        px = max(1, int(ttl_seconds * 1000))
        async with self.redis.pipeline(transaction=False) as pipe:
            for pid, record in save.items():
                pipe.set(self.session_key(pid), orjson.dumps(record), px=px)
            for pid in touch:
                pipe.pexpire(self.session_key(pid), px)
            if drop:
                pipe.delete(*(self.session_key(pid) for pid in drop))
            await pipe.execute()

    async def aclose(self) -> None:
        await self.redis.aclose()


def blocking_pool(url: str, **options):
    """A blocking redis-py pool for `url`, or, when the settings name sentinels
    (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`), one whose connections go to the master
    the sentinels name, asked again when a connection fails: after a failover the
    history follows the promoted replica. `url` then gives only the database and
    credentials."""
    import redis.asyncio as redis
    from django.conf import settings

    sentinels = getattr(settings, "REDIS_SENTINELS", None)
    if not sentinels:
        return redis.BlockingConnectionPool.from_url(url, **options)
    from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
    from redis.connection import parse_url

    class SentinelBlockingPool(SentinelConnectionPool, redis.BlockingConnectionPool):
        pass

    timeout = options.get("socket_connect_timeout") or 2
    sentinel = Sentinel(sentinels, sentinel_kwargs={"socket_connect_timeout": timeout,
                                                    "socket_timeout": timeout})
    credentials = {k: v for k, v in parse_url(url).items()
                   if k in ("db", "username", "password")}
    return SentinelBlockingPool(settings.REDIS_SENTINEL_MASTER, sentinel,
                                **credentials, **options)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_histories: dict[asyncio.AbstractEventLoop, EventHistory] = {}


def get_history() -> EventHistory:
    """The history store of the running loop (Redis clients are bound to one loop)."""
    from django.conf import settings

    loop = asyncio.get_running_loop()
    history = _histories.get(loop)
    if history is None:
        for dead in [other for other in _histories if other.is_closed()]:
            del _histories[dead]
        # REDIS_URL, never the channel layer's hosts: with the layer sharded over several
        # Redis masters the history stays one stream in one Redis (one order of every event,
        # readable by a reconnect on any process), and so do the parked sessions.
        url = getattr(settings, "REDIS_URL", "")
        history = (RedisEventHistory(url, prefix=channel_layer_prefix()) if url
                   else MemoryEventHistory())
        _histories[loop] = history
        _close_with(loop)
    return history


def _close_with(loop: asyncio.AbstractEventLoop) -> None:
    """Close the loop's history client when the loop closes. `async_to_sync` (sync
    publishers: commands, signal receivers outside a server) runs each call on a fresh loop;
    without this every call would leave a Redis connection behind. As channels_redis does."""
    original_close = loop.close

    def close(*args, **kwargs):
        history = _histories.pop(loop, None)
        if history is not None and not loop.is_running() and not loop.is_closed():
            try:
                loop.run_until_complete(history.aclose())
            except Exception:  # closing must never fail because Redis did
                pass
        loop.close = original_close
        return original_close(*args, **kwargs)

    loop.close = close
