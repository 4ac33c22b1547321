"""Give memory back to the system after a storm of closed sessions.

What a closed connection leaves behind is not reachable from anything the gateway keeps
(tracemalloc after 4,000 connects and disconnects: under 100 KB more live Python memory than
before), but it is not freed at once either:

- the objects of a connection refer to each other (the session and its handler, the ASGI
  server's own protocol objects and their transport), so only the cyclic collector frees
  them, and with the collector tuned for storms (`GC_THRESHOLDS`, vendhub/asgi.py) a full
  collection is rare: a few thousand dead connections wait for it;
- what is freed goes back to CPython's object arenas and to glibc's heap, which keep it for
  reuse: the process's RSS stays at its peak until `malloc_trim` returns the free pages.

So after `sweep_after_closes` sessions closed, once no session closed for
`SETTLE_SECONDS`, one sweep runs: a full collection, then `malloc_trim(0)` (glibc only).
It costs one pause of the event loop (a full collection: ~100 ms per 300,000 tracked
objects here), at most once per storm. Hand-written: no library does this for an asyncio
server; `gc` and glibc's `malloc_trim` are the primitives.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time

logger = logging.getLogger(__name__)

#: Quiet time after the last closed session before the sweep runs: not during the storm.
SETTLE_SECONDS = 2.0


def _malloc_trim():
    """glibc's `malloc_trim`, or None on another C library (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def rss_kb() -> int | None:
    """This process's resident set size in KB (Linux), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Sweeper:
    """Counts closed sessions; after `threshold` of them and a quiet moment, sweeps once."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.closed = 0
        self.last_close = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._trim = _malloc_trim()

    def session_closed(self) -> None:
        if self.threshold <= 0:
            return
        self.closed += 1
        self.last_close = time.monotonic()
        if self.closed >= self.threshold and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(SETTLE_SECONDS, self._settle)

    def _settle(self) -> None:
        quiet = time.monotonic() - self.last_close
        if quiet < SETTLE_SECONDS:  # still closing: wait for the storm to end
            self._timer = asyncio.get_running_loop().call_later(SETTLE_SECONDS - quiet,
                                                                self._settle)
            return
        self._timer = None
        self.sweep()

    def sweep(self) -> None:
        closed, self.closed = self.closed, 0
        before = rss_kb()
        started = time.perf_counter()
        collected = gc.collect()
        if self._trim is not None:
            self._trim(0)
        after = rss_kb()
        logger.info("swept after %d closed sessions: %d objects collected, RSS %s -> %s KB "
                    "in %.0f ms", closed, collected, before, after,
                    (time.perf_counter() - started) * 1000)


_process_sweeper: Sweeper | None = None


def process_sweeper(threshold: int) -> Sweeper:
    """The sweeper of this process (every Engine.IO endpoint counts into the same one)."""
    global _process_sweeper
    if _process_sweeper is None:
        _process_sweeper = Sweeper(threshold)
    return _process_sweeper
