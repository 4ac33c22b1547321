"""Draining a server process before it exits: a rolling restart loses no client's session.

`drain()`: the process refuses new Engine.IO sessions (503; the product's health check
fails too, through `on_drain` listeners, so the load balancer stops sending it clients),
waits `delay` seconds for the balancer to notice, then closes every session as
"server shutting down": a websocket is closed, a long poll is answered with an Engine.IO
CLOSE, and the client reconnects by itself (to another process, through the balancer). The
close is a lost connection, so each session is parked for recovery (realtime/server/sio/
recovery.py) and the client gets `recovered: true` and whatever it missed. It returns once
the sessions are parked and the live recovery records written (sio/records.py).

Under uvicorn (README's production command) SIGTERM drains: `install_sigterm_drain`, run at
the ASGI lifespan startup (`DrainOnSigterm`), wraps the handler uvicorn installed, runs the
drain on the server's loop, then hands the signal to uvicorn, which stops listening, lets
the requests in flight finish (an ingestion POST is answered, not cut) and exits. A second
SIGTERM during the drain goes to uvicorn at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Iterable

from .engine.server import EngineServer
from .engine.session import CloseReason
from .sio import records

logger = logging.getLogger(__name__)

#: Callbacks run when a drain starts (the product's health check: `vendhub.health`).
_listeners: list[Callable[[], None]] = []


def on_drain(callback: Callable[[], None]) -> None:
    if callback not in _listeners:
        _listeners.append(callback)


async def drain(servers: Iterable[EngineServer], *, delay: float = 0.0,
                timeout: float = 5.0) -> int:
    """Drain the sessions of `servers`; returns how many were closed."""
    servers = list(servers)
    started = time.monotonic()
    for server in servers:
        server.draining = True
    for callback in _listeners:
        try:
            callback()
        except Exception:
            logger.exception("a drain listener failed")
    logger.info("draining: new sessions refused, closing the open ones in %.1f s", delay)
    if delay > 0:
        await asyncio.sleep(delay)
    closed = 0
    for server in servers:
        closed += len(server.sessions)
        server.close_all(CloseReason.SERVER.value)
    settled = await records.keeper().settle(timeout)
    logger.info("drained: %d session(s) closed and %s in %d ms", closed,
                "parked" if settled else "not all parked (timeout)",
                (time.monotonic() - started) * 1000)
    return closed


def _is_uvicorns(handler: object) -> bool:
    owner = getattr(handler, "__self__", None)
    return owner is not None and type(owner).__module__.startswith("uvicorn.")


def install_sigterm_drain(servers: Iterable[EngineServer], *, delay: float,
                          timeout: float = 5.0) -> bool:
    """Drain on SIGTERM before uvicorn shuts down. Only when uvicorn's handler is the one
    installed (the application is imported inside uvicorn's signal capture): under daphne,
    a management command or a test nothing changes. Returns whether it was installed."""
    servers = list(servers)
    uvicorn_exit = signal.getsignal(signal.SIGTERM)
    if not _is_uvicorns(uvicorn_exit):
        return False
    state = {"task": None}

    def handle(sig: int, frame) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or state["task"] is not None:
            uvicorn_exit(sig, frame)  # no loop to drain on, or a second SIGTERM: exit now
            return

        async def drain_then_exit() -> None:
            try:
                await drain(servers, delay=delay, timeout=timeout)
            except Exception:
                logger.exception("draining failed, shutting down anyway")
            finally:
                uvicorn_exit(sig, None)

        # A signal handler runs between any two bytecodes, the loop's own included: the
        # task is created by the loop, not here.
        state["task"] = True
        loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_exit()))

    signal.signal(signal.SIGTERM, handle)
    return True


class DrainOnSigterm:
    """The ASGI `lifespan` application that installs the SIGTERM drain at startup: uvicorn
    imports the application before it installs its signal handlers, and sends
    `lifespan.startup` after (daphne sends no lifespan events: nothing is installed)."""

    def __init__(self, servers: Iterable[EngineServer], *, delay: float,
                 timeout: float = 5.0) -> None:
        self.servers, self.delay, self.timeout = list(servers), delay, timeout

    async def __call__(self, scope, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                install_sigterm_drain(self.servers, delay=self.delay, timeout=self.timeout)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
