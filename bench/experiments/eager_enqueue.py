"""The product ASGI app with an eager websocket write in `EngineSession.enqueue`.

Today every frame queued for an idle session schedules a writer task (`create_task`), so
a publish to 1,000 sockets creates 1,000 tasks. Here, when the session's queue is empty
and no writer is running, the ASGI `send` coroutine is stepped once in place: under
uvicorn it finishes without suspending unless the transport is paused (backpressure),
and only then is the rest handed to a task, which keeps frame order (`_writing`).

    uvicorn bench.experiments.eager_enqueue:application --ws websockets-sansio
"""

from __future__ import annotations

import asyncio
import logging

from realtime.engine.session import CloseReason, EngineSession, SessionState, Transport
from vendhub.asgi import application  # noqa: F401  (sets Django up first)

logger = logging.getLogger(__name__)
_original_enqueue = EngineSession.enqueue


async def _finish(session: EngineSession, coro, waiting) -> None:
    """Drive a send coroutine that suspended on `waiting`, then drain the queue as usual."""
    try:
        while True:
            try:
                await waiting
            except BaseException as exc:  # hand the failure to the coroutine
                waiting = coro.throw(exc)
            else:
                waiting = coro.send(None)
    except StopIteration:
        pass
    except Exception:
        session._writing = False
        session.close(CloseReason.TRANSPORT_ERROR.value)
        return
    session._writing = False
    if session.queue:
        session._writing = True
        await session._drain_to_websocket()


def enqueue(self: EngineSession, item) -> bool:
    if (
        self.state is SessionState.CLOSED
        or self.transport is not Transport.WEBSOCKET
        or self._writing
        or self.queue
        or self._ws_writer is None
    ):
        return _original_enqueue(self, item)
    coro = self._ws_writer(item)
    try:
        waiting = coro.send(None)
    except StopIteration:
        return True  # written without suspending: no task, no queue
    except Exception:
        logger.info("session %s: websocket write failed", self.sid)
        self.close(CloseReason.TRANSPORT_ERROR.value)
        return False
    self._writing = True
    asyncio.get_running_loop().create_task(_finish(self, coro, waiting))
    return True


EngineSession.enqueue = enqueue
