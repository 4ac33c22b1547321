"""The recovery record of a live session (realtime/server/sio/records.py): written when the
socket connects and when its rooms change, its TTL refreshed while it lives, replaced by the
parked record when the connection is lost, deleted when the session ends for good; and what
it is for: a client whose process died (and parked nothing) recovers from it."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from realtime.server.conf import RealtimeConfig
from realtime.server.history import MemoryEventHistory, RedisEventHistory, frame_with_offset
from realtime.server.sio import records
from tests.realtime.test_gateway_inprocess import application, recv_text
from tests.realtime.test_recovery import (
    RoomsNamespace,
    fake_socket,
    open_socket,
    publish_local,
)
from tests.realtime.wire import RECOVERY_CONNECT_REPLY

CONFIG = RealtimeConfig(ping_interval_ms=60_000, recovery_window_ms=8_000)


def keeper() -> records.RecordKeeper:
    return records.keeper(CONFIG)


async def joined(app, room: str, auth: dict | None = None):
    communicator, reply = await open_socket(app, auth or {"user": "u"})
    await communicator.send_to(text_data=f'420["join","{room}"]')
    assert await recv_text(communicator) == '430["joined"]'
    return communicator, RECOVERY_CONNECT_REPLY.match(reply)["pid"]


def stored(history: MemoryEventHistory, pid: str) -> dict | None:
    kept = history.sessions.get(pid)
    return kept[1] if kept else None


async def test_a_live_session_s_record_follows_its_rooms(memory_history):
    app = application(CONFIG, {"/": RoomsNamespace()})
    room, other = f"org:{uuid.uuid4()}", f"org:{uuid.uuid4()}"
    communicator, pid = await joined(app, room)
    assert stored(memory_history, pid) is None  # written by the next flush, not at once
    assert await keeper().flush() == 1
    record = stored(memory_history, pid)
    assert record["rooms"] == [room] and record["user"] == "u" and record["sid"]
    await communicator.send_to(text_data=f'421["join","{other}"]')
    assert await recv_text(communicator) == '431["joined"]'
    await keeper().flush()
    assert stored(memory_history, pid)["rooms"] == sorted([room, other])
    assert await keeper().flush(refresh=False) == 0  # nothing changed: nothing written
    await communicator.disconnect()


async def test_the_record_lives_the_window_plus_a_refresh_and_is_refreshed(memory_history):
    app = application(CONFIG, {"/": RoomsNamespace()})
    communicator, pid = await joined(app, f"org:{uuid.uuid4()}")
    kept = keeper()
    assert (kept.refresh_seconds, kept.ttl_seconds) == (2.0, 10.0)
    await kept.flush()
    first_expiry = memory_history.sessions[pid][0]
    await asyncio.sleep(0.05)
    assert await kept.flush(refresh=True) >= 1  # one PEXPIRE per live session
    assert memory_history.sessions[pid][0] > first_expiry
    await communicator.disconnect()


async def test_a_session_left_on_purpose_loses_its_record(memory_history):
    app = application(CONFIG, {"/": RoomsNamespace()})
    communicator, pid = await joined(app, f"org:{uuid.uuid4()}")
    await keeper().flush()
    assert stored(memory_history, pid) is not None
    await communicator.send_to(text_data="41")
    await communicator.disconnect()
    await asyncio.sleep(0.05)
    await keeper().flush()
    assert stored(memory_history, pid) is None
    assert not keeper().live


async def test_a_lost_connection_parks_the_record_for_the_window(memory_history):
    app = application(CONFIG, {"/": RoomsNamespace()})
    room = f"org:{uuid.uuid4()}"
    communicator, pid = await joined(app, room)
    await keeper().flush()
    await communicator.disconnect()  # transport close: parked, not deleted
    await asyncio.sleep(0.05)
    await keeper().flush()
    assert stored(memory_history, pid)["rooms"] == [room]
    assert not keeper().live and not keeper().ended


async def test_a_client_whose_process_died_recovers_from_the_live_record(memory_history):
    """Process A "dies": its socket never disconnects, nothing is parked; the client comes
    back on another connection with its pid and offset and gets what it missed."""
    app = application(CONFIG, {"/": RoomsNamespace()})
    room = f"org:{uuid.uuid4()}"
    on_a, pid = await joined(app, room)
    first = await publish_local(memory_history, room, 0)
    assert await recv_text(on_a) == f'42["e",0,"{first}"]'
    await keeper().flush()
    missed = [await publish_local(memory_history, room, n) for n in (1, 2)]
    for n in (1, 2):
        assert json.loads((await recv_text(on_a))[2:])[1] == n  # A's socket is still there
    again, reply = await open_socket(app, {"user": "u", "pid": pid, "offset": first})
    assert RECOVERY_CONNECT_REPLY.match(reply)["pid"] == pid
    assert [await recv_text(again) for _ in missed] == [
        f'42["e",{n},"{offset}"]' for n, offset in zip((1, 2), missed, strict=True)]
    await again.disconnect()
    await on_a.disconnect()


async def test_another_user_cannot_take_a_live_record(memory_history):
    app = application(CONFIG, {"/": RoomsNamespace()})
    on_a, pid = await joined(app, f"org:{uuid.uuid4()}")
    await keeper().flush()
    intruder, reply = await open_socket(app, {"user": "mallory", "pid": pid})
    assert RECOVERY_CONNECT_REPLY.match(reply)["pid"] != pid
    assert stored(memory_history, pid)["user"] == "u"  # left for its owner
    await intruder.disconnect()
    await on_a.disconnect()


async def test_a_failed_write_is_retried_by_the_next_flush(memory_history, monkeypatch):
    app = application(CONFIG, {"/": RoomsNamespace()})
    communicator, pid = await joined(app, f"org:{uuid.uuid4()}")

    async def down(**_):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(memory_history, "keep_sessions", down)
    assert await keeper().flush() == 0
    monkeypatch.undo()
    monkeypatch.setattr(records, "get_history", lambda: memory_history)
    assert await keeper().flush() >= 1
    assert stored(memory_history, pid) is not None
    await communicator.disconnect()


@pytest.mark.redis
async def test_redis_keeps_saves_refreshes_and_drops_in_one_pipeline(redis_url):
    store = RedisEventHistory(redis_url, prefix=f"test-records-{uuid.uuid4().hex}")
    try:
        await store.keep_sessions(save={"a": {"sid": "1"}, "b": {"sid": "2"}}, touch=[],
                                  drop=[], ttl_seconds=5)
        await store.keep_sessions(save={}, touch=["a", "gone"], drop=["b"], ttl_seconds=60)
        assert 50_000 < await store.redis.pttl(store.session_key("a")) <= 60_000
        assert not await store.redis.exists(store.session_key("gone"))  # not recreated
        assert await store.take_session("b") is None
        assert await store.take_session("a") == {"sid": "1"}
    finally:
        await store.aclose()


def test_a_live_frame_already_replayed_is_dropped_even_after_the_release():
    """Published before the recovering process read the history, delivered by the channel
    layer after the held frames were released: the client must not get it twice."""
    socket, queued, _ = fake_socket()
    socket.hold()
    assert socket.release(after="7-2") == 0
    assert socket.deliver(frame_with_offset('["e",2]', "7-2"))  # late, already replayed
    assert socket.deliver(frame_with_offset('["e",3]', "7-3"))
    assert queued == [frame_with_offset('["e",3]', "7-3")]
