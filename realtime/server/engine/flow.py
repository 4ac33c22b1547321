"""Write backpressure for websockets served by daphne.

Daphne hands each outgoing websocket frame to Twisted at once, and a Twisted transport
buffers without limit: a client that stops reading would grow the server's memory while the
session's own bound (`max_queued_frames`, realtime/server/engine/session.py) never trips, since
its queue keeps draining into Twisted. Twisted's remedy is a streaming producer registered
on the transport: it is paused when more than the transport's buffer size (64 KiB) waits to
be written and resumed once that is written. The websocket writer is such a producer: it
waits while paused, so frames stay in the session queue, where the bound applies and a
client that cannot keep up is closed as a slow client.

An ASGI server whose `send` itself waits for the socket (uvicorn's does) needs none of this:
`attach_flow` then finds no Twisted transport and returns None.
"""

from __future__ import annotations

import asyncio
import functools
import logging

logger = logging.getLogger(__name__)


class TransportFlow:
    """A Twisted push producer (pauseProducing/resumeProducing/stopProducing) that tells the
    websocket writer when it may write."""

    def __init__(self) -> None:
        self._writable = asyncio.Event()
        self._writable.set()

    @property
    def writable(self) -> bool:
        return self._writable.is_set()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    # -- IPushProducer, called by the transport on the reactor (= the event loop) thread --

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted's interface)
        self._writable.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self._writable.set()

    def stopProducing(self) -> None:  # noqa: N802
        # The connection is gone: let a waiting writer go on (its write is then dropped).
        self._writable.set()


def attach_flow(send) -> TransportFlow | None:
    """Register a TransportFlow on the Twisted transport behind daphne's ASGI `send`
    (`functools.partial(server.handle_reply, protocol)`); None under another server."""
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "registerProducer"):
        return None
    flow = TransportFlow()
    try:
        if getattr(transport, "producer", None) is not None:
            # The HTTP channel the websocket was upgraded from is still registered; it
            # would only stop reading from the client when the buffer fills.
            transport.unregisterProducer()
        transport.registerProducer(flow, True)
    except Exception:  # an unexpected transport: run without backpressure, as before
        logger.warning("could not register websocket write backpressure", exc_info=True)
        return None
    return flow
