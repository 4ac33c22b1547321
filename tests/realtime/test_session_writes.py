"""How a websocket session hands frames to its transport (realtime/server/engine/session.py): a
frame is written at once, in the caller's stack, while the transport takes it without
waiting; once a write has to wait, later frames queue behind it in order, under the
slow-client bound, and a failing write closes the session."""

from __future__ import annotations

import asyncio

from realtime.server.conf import RealtimeConfig
from realtime.server.engine.server import EngineServer
from realtime.server.engine.session import Transport
from tests.realtime.doubles import QuietHandler


class WebSocketStub:
    """A websocket `send` that completes at once while open, waits while `paused`, and
    fails once `broken` (as a server's ASGI send does when the client is gone)."""

    def __init__(self) -> None:
        self.written: list[str | bytes] = []
        self.open = asyncio.Event()
        self.open.set()
        self.broken = False
        self.closed = False

    async def write(self, frame: str | bytes) -> None:
        await self.open.wait()
        if self.broken:
            raise ConnectionResetError("client gone")
        self.written.append(frame)

    async def close(self) -> None:
        self.closed = True


async def websocket_session(max_queued_frames: int = 1000):
    server = EngineServer(config=RealtimeConfig(max_queued_frames=max_queued_frames),
                          handler_factory=QuietHandler)
    session = await server.open(Transport.WEBSOCKET, {})
    transport = WebSocketStub()
    session.attach_websocket(transport.write, transport.close)
    return session, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_frame_is_written_before_enqueue_returns_when_the_transport_is_free():
    session, transport = await websocket_session()
    assert session.enqueue('42["a"]')
    assert transport.written == ['42["a"]']  # no task, no queue in between
    assert not session.queue


async def test_frames_queued_behind_a_waiting_write_keep_their_order():
    session, transport = await websocket_session()
    transport.open.clear()  # the client stopped reading: the next write waits
    for n in range(5):
        assert session.enqueue(f"42[{n}]")
    assert transport.written == []
    assert len(session.queue) == 4  # the first frame is in the waiting write
    transport.open.set()
    await settle()
    assert transport.written == [f"42[{n}]" for n in range(5)]
    assert session.enqueue("42[5]")  # written at once again
    assert transport.written[-1] == "42[5]"
    assert not session.queue


async def test_wait_drained_returns_once_a_waiting_write_and_its_queue_are_written():
    session, transport = await websocket_session()
    transport.open.clear()
    for n in range(3):
        session.enqueue(f"42[{n}]")
    waiter = asyncio.create_task(session.wait_drained())
    await settle()
    assert not waiter.done()
    transport.open.set()
    await asyncio.wait_for(waiter, 1)
    assert transport.written == ["42[0]", "42[1]", "42[2]"]


async def test_a_client_that_cannot_keep_up_is_closed_at_the_queue_bound():
    session, transport = await websocket_session(max_queued_frames=3)
    transport.open.clear()
    accepted = [session.enqueue(f"42[{n}]") for n in range(6)]
    # One frame in the waiting write, three queued, then the bound closes the session.
    assert accepted == [True, True, True, True, False, False]
    assert session.closed and session.close_reason == "slow client"
    transport.open.set()
    await settle()
    assert transport.closed
    assert transport.written == ["42[0]"]  # what was queued is dropped with the client


async def test_a_failing_write_closes_the_session():
    session, transport = await websocket_session()
    transport.broken = True
    assert not session.enqueue("42[1]")
    assert session.closed and session.close_reason == "transport error"
    assert not session.enqueue("42[2]")


async def test_a_write_failing_after_it_waited_closes_the_session_and_drops_the_queue():
    session, transport = await websocket_session()
    transport.open.clear()
    session.enqueue("42[1]")
    session.enqueue("42[2]")
    transport.broken = True
    transport.open.set()
    await settle()
    assert session.closed and session.close_reason == "transport error"
    assert transport.written == []
