"""Recovery records of live sessions, so that a crashed process's clients recover too.

Parking a session when its connection is lost (realtime/server/sio/recovery.py) needs the
process to live on: a process killed (`kill -9`, out of memory, a host gone) parks nothing.
So the record a recoverable socket would park (its namespace's `park_state`, sid, base) is
kept in the history store for as long as the socket is connected: a client whose process
died reconnects to another one with its pid and offset and finds its session there,
exactly as after a clean disconnect.

Cheap by design, one writer task per process:
- a socket's record is written when it connects and whenever its state may have changed
  (it joined or left a room, a client event was handled), at most once per `FLUSH_SECONDS`:
  the sockets changed since the last flush go out in one pipeline of SETs;
- every live record's TTL is refreshed once per refresh interval (a quarter of the recovery
  window) with PEXPIREs, pipelined in chunks; a record lives the window plus that interval,
  so that after a crash a client still has at least the whole window to come back;
- a session that ends for good (the client left on purpose, a server-side disconnect) has
  its record deleted in the next pipeline, after any write of it: one writer keeps the order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from ..conf import RealtimeConfig
from ..history import get_history

logger = logging.getLogger(__name__)

#: How often the sessions that changed are written (and the moment a crash can lose).
FLUSH_SECONDS = 1.0
#: Commands per pipeline: a refresh of 20,000 sessions is 20 round trips, not one huge one.
CHUNK = 1000


class Socket(Protocol):
    """What a record is made of (`realtime.server.sio.namespace.Socket`): typed as a
    protocol so that this module does not import the namespace module, which imports it."""

    sid: str
    pid: str | None
    base: Any


class Namespace(Protocol):
    def park_state(self, socket: Any) -> dict: ...


class RecordKeeper:
    """The live sessions of one process (one event loop) and their records in the store."""

    def __init__(self, config: RealtimeConfig, *, flush_seconds: float = FLUSH_SECONDS,
                 clock=time.monotonic) -> None:
        window = config.recovery_window_ms / 1000
        self.flush_seconds = flush_seconds
        self.refresh_seconds = max(flush_seconds, window / 4)
        self.ttl_seconds = window + self.refresh_seconds
        self.clock = clock
        self.live: dict[Socket, Namespace] = {}
        self.dirty: dict[Socket, None] = {}
        self.ended: dict[str, None] = {}
        #: Parks in progress (a drain waits for them).
        self.parking = 0
        self._refreshed_at = clock()
        self._task: asyncio.Task | None = None

    # -- bookkeeping (synchronous: called from the connection layer) ------------------

    def track(self, socket: Socket, namespace: Namespace) -> None:
        """`socket` is connected with a pid: keep its record from now on."""
        self.live[socket] = namespace
        self.changed(socket)

    def changed(self, socket: Socket) -> None:
        """What `socket` would park may have changed: write it with the next flush."""
        if socket in self.live:
            self.dirty[socket] = None
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._run())

    def untrack(self, socket: Socket, *, parked: bool) -> None:
        """`socket` left. `parked`: its session is parked now (the parked record replaces
        the live one); otherwise the session ended and its record goes."""
        if self.live.pop(socket, None) is None:
            return
        self.dirty.pop(socket, None)
        if not parked and socket.pid is not None:
            self.ended[socket.pid] = None
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._run())

    # -- the writer ------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self.live or self.dirty or self.ended:
                await asyncio.sleep(self.flush_seconds)
                await self.flush()
        finally:
            self._task = None

    async def flush(self, *, refresh: bool | None = None) -> int:
        """Write what changed (and refresh every live record's TTL when due, or when
        `refresh` says so); returns the commands sent. A failed write is retried by the
        next flush."""
        now = self.clock()
        if refresh is None:
            refresh = now - self._refreshed_at >= self.refresh_seconds
        dirty, self.dirty = self.dirty, {}
        ended, self.ended = self.ended, {}
        save: dict[str, dict] = {}
        for socket in dirty:
            namespace = self.live.get(socket)
            if namespace is None or socket.pid is None:
                continue
            try:
                save[socket.pid] = {**namespace.park_state(socket), "sid": socket.sid,
                                    "base": socket.base}
            except Exception:
                logger.exception("socket %s: could not read its recovery record", socket.sid)
        touch = ([s.pid for s in self.live if s.pid is not None and s.pid not in save]
                 if refresh else [])
        if refresh:
            self._refreshed_at = now
        if not (save or touch or ended):
            return 0
        history = get_history()
        saves, drops = list(save.items()), list(ended)
        try:
            for start in range(0, max(len(saves), len(touch), len(drops)), CHUNK):
                end = start + CHUNK
                await history.keep_sessions(save=dict(saves[start:end]), touch=touch[start:end],
                                            drop=drops[start:end], ttl_seconds=self.ttl_seconds)
        except Exception as exc:
            logger.error("could not write %d recovery record(s): %s: %s", len(save),
                         type(exc).__name__, exc)
            for socket in dirty:
                if socket in self.live:
                    self.dirty[socket] = None
            self.ended.update(ended)
            if refresh:
                self._refreshed_at = now - self.refresh_seconds  # again at the next flush
            return 0
        return len(save) + len(touch) + len(ended)

    async def settle(self, timeout: float) -> bool:
        """Wait until no session is live and no park is in progress, then flush: a drained
        process leaves every session parked. False when `timeout` ran out first."""
        deadline = self.clock() + timeout
        while self.live or self.parking:
            if self.clock() >= deadline:
                await self.flush()
                return False
            await asyncio.sleep(0.02)
        await self.flush()
        return True


_keepers: dict[asyncio.AbstractEventLoop, RecordKeeper] = {}


def keeper(config: RealtimeConfig | None = None) -> RecordKeeper:
    """The record keeper of the running loop (the first config given sets its window)."""
    loop = asyncio.get_running_loop()
    found = _keepers.get(loop)
    if found is None:
        for dead in [other for other in _keepers if other.is_closed()]:
            del _keepers[dead]
        found = _keepers[loop] = RecordKeeper(config or RealtimeConfig())
    return found


def changed(socket: Socket) -> None:
    """`RecordKeeper.changed` of the running loop's keeper, if the loop has one (a socket
    is tracked only through `keeper()`)."""
    found = _keepers.get(asyncio.get_running_loop())
    if found is not None:
        found.changed(socket)
