"""Write batching under load: the frames of consecutive broadcasts, held per session and
written to each websocket with one call.

A broadcast costs one write system call per socket; on this 2-core machine that call is
about three quarters of the CPU a delivered frame costs (bench/ fan-out, py-spy). When the
hub finds events already waiting in the channel layer (it is behind), it holds the frames
of a few consecutive events per session and writes each session's frames with one call:
the same bytes, in the same order, with one system call per socket for several events. A
hub that is not behind writes every frame at once, as before: batching adds no latency to
a lone event, and at most `max_hold` seconds to the events of a burst.

`EngineSession.enqueue` takes part while a batch is *filling* (`filling()`: set by the hub
around one synchronous dispatch, on its own event loop): the frame goes into the
session's queue instead of to the socket, and the session into the batch. Frames that other
tasks queue for that session meanwhile (an ack, a snapshot) wait behind them in the same
queue, so the order on the wire is the order of the calls. `flush()` writes every held
session's queue.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class HoldingSession(Protocol):
    def write_held(self) -> None:
        """Write the frames held for this batch (and those queued behind them)."""


class WriteBatch:
    """The sessions holding frames of the current batch, on one event loop."""

    __slots__ = ("loop", "sessions", "events", "started")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sessions: list[HoldingSession] = []
        #: Events dispatched into this batch, and when the first one was.
        self.events = 0
        self.started = 0.0

    def __bool__(self) -> bool:
        return bool(self.sessions)

    def flush(self) -> int:
        """Write what every session holds; returns how many sessions were written."""
        sessions, self.sessions = self.sessions, []
        self.events = 0
        for session in sessions:
            session.write_held()
        return len(sessions)


#: The batch a dispatch is filling right now, or None: a module global read by every
#: `enqueue` (a context variable would cost more on a path run once per frame and socket).
#: Only set for the duration of one synchronous dispatch, so no other task of its loop can
#: see it; a session of another loop (another thread) ignores it (`batch.loop`).
_filling: WriteBatch | None = None


def filling() -> WriteBatch | None:
    return _filling


class Filling:
    """`with Filling(batch):` frames enqueued within go into `batch`."""

    __slots__ = ("batch", "previous")

    def __init__(self, batch: WriteBatch) -> None:
        self.batch = batch
        self.previous: WriteBatch | None = None

    def __enter__(self) -> WriteBatch:
        global _filling
        self.previous, _filling = _filling, self.batch
        if not self.batch.events:
            self.batch.started = self.batch.loop.time()
        self.batch.events += 1
        return self.batch

    def __exit__(self, *exc) -> None:
        global _filling
        _filling = self.previous
