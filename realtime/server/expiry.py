"""Access-token expiry of every socket of a process, on one timer."""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

class ExpiryClock:
    """When each socket's access token expires, for every socket of the process: sockets
    grouped by the second their token expires in, and ONE timer, armed for the earliest
    second, instead of a timer handle per socket (idle memory per connection). JWT
    expiry times are whole seconds, so a socket expires at the same time as with its own
    timer."""

    def __init__(self, on_expired: Callable[[Any], None]) -> None:
        self.on_expired = on_expired
        self._due: dict[int, set] = {}  # second -> sockets
        self._seconds: list[int] = []  # heap of the keys of `_due`
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None

    def arm(self, socket: Any, expires_at: float, previous: int | None = None) -> int:
        """Watch `socket` until `expires_at` (unix time); returns the second to pass as
        `previous` (or to `disarm`) later."""
        if previous is not None:
            self.disarm(socket, previous)
        second = math.ceil(expires_at)
        sockets = self._due.get(second)
        if sockets is None:
            sockets = self._due[second] = set()
            heapq.heappush(self._seconds, second)
        sockets.add(socket)
        if self._timer is None or self._timer_at > second:
            self._schedule(second)
        return second

    def disarm(self, socket: Any, second: int) -> None:
        sockets = self._due.get(second)
        if sockets is not None:
            sockets.discard(socket)
            # The empty set stays until its second comes: the heap keeps no stale keys.

    def _schedule(self, second: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = second
        self._timer = asyncio.get_running_loop().call_later(
            max(0.0, second - time.time()), self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        now = time.time()
        while self._seconds and self._seconds[0] <= now:
            for socket in self._due.pop(heapq.heappop(self._seconds)):
                try:
                    self.on_expired(socket)
                except Exception:
                    logger.exception("socket %s: expiring its token failed", socket.sid)
        if self._seconds:
            self._schedule(self._seconds[0])
