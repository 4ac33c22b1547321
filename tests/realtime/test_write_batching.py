"""Write batching (realtime/server/engine/batch.py): a hub that is behind writes the frames of
consecutive events to each websocket with one call, in the order they were queued; a hub
that is not behind writes every frame at once."""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer

from realtime.rooms import group_name
from realtime.server.conf import RealtimeConfig
from realtime.server.engine.batch import Filling, WriteBatch
from realtime.server.engine.server import EngineServer
from realtime.server.engine.session import Transport
from realtime.server.hub import Hub
from tests.realtime.doubles import QuietHandler
from tests.realtime.test_hub import SessionMember, eventually


class DirectWriter:
    """The server's direct writer (uvicorn_ws `send_frame_now`): records each call; takes a
    list of frames only when `takes_lists`."""

    def __init__(self, takes_lists: bool = True) -> None:
        self.calls: list = []
        self.takes_lists = takes_lists

    def __call__(self, frame) -> bool:
        if isinstance(frame, list) and not self.takes_lists:
            return False
        self.calls.append(frame)
        return True

    @property
    def frames(self) -> list[str]:
        return [f for call in self.calls for f in (call if isinstance(call, list) else [call])]


class Coroutine:
    """The websocket's ASGI send: the slow path, frame by frame."""

    def __init__(self) -> None:
        self.written: list[str] = []

    async def write(self, frame) -> None:
        self.written.append(frame)

    async def close(self) -> None:
        pass


async def session_with(writer: DirectWriter, coroutine: Coroutine | None = None):
    server = EngineServer(config=RealtimeConfig(), handler_factory=QuietHandler)
    session = await server.open(Transport.WEBSOCKET, {})
    coroutine = coroutine or Coroutine()
    session.attach_websocket(coroutine.write, coroutine.close, writer)
    return session


async def test_a_batch_writes_each_sessions_frames_with_one_call_in_order():
    first_writer, second_writer = DirectWriter(), DirectWriter()
    first, second = await session_with(first_writer), await session_with(second_writer)
    batch = WriteBatch(asyncio.get_running_loop())
    for number in range(3):
        with Filling(batch):
            assert first.enqueue(f'42["e",{number}]')
            assert second.enqueue(f'42["e",{number}]')
    first.enqueue('430[{"event":"subscribed"}]')  # an ack written meanwhile by another task
    assert first_writer.calls == second_writer.calls == []  # held until the batch is written
    assert batch.flush() == 2
    assert first_writer.calls == [['42["e",0]', '42["e",1]', '42["e",2]',
                                   '430[{"event":"subscribed"}]']]
    assert second_writer.calls == [['42["e",0]', '42["e",1]', '42["e",2]']]
    assert first.enqueue('42["after"]')  # written at once again, on its own
    assert first_writer.calls[-1] == '42["after"]'


async def test_a_writer_that_takes_no_list_gets_the_frames_one_by_one_in_order():
    writer, coroutine = DirectWriter(takes_lists=False), Coroutine()
    session = await session_with(writer, coroutine)
    batch = WriteBatch(asyncio.get_running_loop())
    for number in range(3):
        with Filling(batch):
            session.enqueue(f'42["e",{number}]')
    batch.flush()
    await eventually(lambda: len(coroutine.written) == 3)
    assert coroutine.written == ['42["e",0]', '42["e",1]', '42["e",2]']
    assert not session.queue


async def test_a_session_closed_while_its_frames_are_held_writes_nothing():
    writer = DirectWriter()
    session = await session_with(writer)
    batch = WriteBatch(asyncio.get_running_loop())
    with Filling(batch):
        session.enqueue('42["e",0]')
    session.close("transport close")
    batch.flush()
    assert writer.calls == []
    assert not session.enqueue('42["e",1]')


async def test_a_batch_of_another_event_loop_holds_nothing():
    """Another thread's loop may be filling a batch: a session writes as if none were."""
    writer = DirectWriter()
    session = await session_with(writer)
    other_loop = asyncio.new_event_loop()
    try:
        with Filling(WriteBatch(other_loop)):
            session.enqueue('42["e",0]')
    finally:
        other_loop.close()
    assert writer.calls == ['42["e",0]']


async def hub_with_sessions(count: int, **options):
    layer = InMemoryChannelLayer()
    hub = Hub(layer, group_name=group_name, **options)
    writers = [DirectWriter() for _ in range(count)]
    for writer in writers:
        await hub.join(SessionMember(await session_with(writer)), "org:a")
    return hub, layer, writers


async def test_a_hub_behind_writes_events_already_waiting_together():
    hub, layer, writers = await hub_with_sessions(3, write_batch_events=4,
                                                   write_batch_hold_ms=200)
    try:
        # Ten events published at once: each receive finds the next one waiting.
        for number in range(10):
            await hub.publish("org:a", f'42["e",{number}]')
        await eventually(lambda: all(len(w.frames) == 10 for w in writers), timeout=2)
        for writer in writers:
            assert writer.frames == [f'42["e",{number}]' for number in range(10)]
            assert len(writer.calls) < 10  # fewer writes than events
            assert all(len(c) <= 4 for c in writer.calls if isinstance(c, list))
        assert hub.write_batches >= 2 and hub.batched_events >= 5
    finally:
        await hub.stop()


async def test_a_lone_event_is_written_at_once_whatever_the_hold():
    hub, layer, writers = await hub_with_sessions(2, write_batch_events=8,
                                                   write_batch_hold_ms=1_000)
    try:
        # (Right after the listener started, a first event may be taken for a backlog and
        # held: never longer than the hold.)
        await hub.publish("org:a", '42["warm"]')
        await eventually(lambda: all(w.frames for w in writers), timeout=3)
        await asyncio.sleep(0.1)  # the hub waits for its next message: it is not behind
        loop = asyncio.get_running_loop()
        sent = loop.time()
        await hub.publish("org:a", '42["lone"]')
        await eventually(lambda: all(w.frames[-1:] == ['42["lone"]'] for w in writers),
                         timeout=1)
        assert loop.time() - sent < 0.5  # not held for the second of a batch
        assert writers[0].calls[-1] == '42["lone"]'
    finally:
        await hub.stop()


async def test_one_write_per_event_when_batching_is_off():
    hub, layer, writers = await hub_with_sessions(2, write_batch_events=1)
    try:
        for number in range(5):
            await hub.publish("org:a", f'42["e",{number}]')
        await eventually(lambda: all(len(w.frames) == 5 for w in writers), timeout=2)
        assert all(len(w.calls) == 5 for w in writers) and hub.write_batches == 0
    finally:
        await hub.stop()
