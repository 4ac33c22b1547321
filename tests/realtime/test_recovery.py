"""Connection state recovery (Socket.IO >= 4.6 semantics): the event history, the pid and
offsets on the wire, and recovery over raw websockets: on the same process, on another one,
without any event received, after the window, for the wrong user. The official client:
test_recovery_interop.py."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from types import SimpleNamespace

import pytest
import redis.asyncio as redis
from channels.testing import WebsocketCommunicator

from realtime import broadcast
from realtime.broadcast import publish_rollback_unsafe
from realtime.server import history as history_module
from realtime.server.conf import RealtimeConfig
from realtime.server.history import (
    SESSION_KEY,
    MemoryEventHistory,
    RedisEventHistory,
    channel_layer_prefix,
    frame_offset,
    frame_with_offset,
    is_offset,
    parse_offset,
    prefixed,
)
from realtime.server.hub import get_hub
from realtime.server.sio import Namespace, Socket
from tests.realtime.product import publish, raw_client
from tests.realtime.test_gateway_inprocess import WS_PATH, application, recv_text
from tests.realtime.wire import (
    CONNECT_REPLY,
    RECOVERY_CONNECT_REPLY,
    parse_open,
    socketio_websocket,
)

# -- the history ------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def history(request):
    if request.param == "memory":
        yield MemoryEventHistory(max_entries=10)
        return
    url = request.getfixturevalue("redis_url")
    store = RedisEventHistory(url, key=f"rt:test-history:{uuid.uuid4().hex}")
    yield store
    await store.redis.delete(store.key)
    await store.aclose()


async def test_history_replays_the_entries_of_the_rooms_after_an_offset(history):
    start = await history.head()
    first = await history.append("org:a", '["e",1]')
    await history.append("org:b", '["e",2]')
    third = await history.append("org:a", '["e",3]')
    assert parse_offset(start) < parse_offset(first) < parse_offset(third)
    assert await history.head() == third
    assert [(e.room, e.body) for e in await history.since(start, ["org:a", "org:b"])] == [
        ("org:a", '["e",1]'), ("org:b", '["e",2]'), ("org:a", '["e",3]')]
    assert [e.offset for e in await history.since(first, ["org:a"])] == [third]
    assert await history.since(third, ["org:a"]) == []


async def test_history_knows_when_it_cannot_replay(history):
    start = await history.head()
    # Redis trims `MAXLEN ~` by whole stream nodes (100 entries): write a few of them.
    for n in range(10 if isinstance(history, MemoryEventHistory) else 300):
        await history.append("org:a", f'["e",{n}]')
    history.max_entries = 10
    await history.append("org:a", '["e","last"]')
    assert await history.since(start, ["org:a"]) is None
    assert await history.since(await history.head(), ["org:a"]) == []


async def test_a_parked_session_is_taken_once_and_expires(history):
    await history.save_session("p1", {"sid": "s1", "base": "0-0"}, ttl_seconds=5)
    await history.save_session("p2", {"sid": "s2", "base": "0-0"}, ttl_seconds=0.05)
    assert await history.take_session("p1") == {"sid": "s1", "base": "0-0"}
    assert await history.take_session("p1") is None
    await asyncio.sleep(0.1)
    assert await history.take_session("p2") is None


@pytest.mark.redis
def test_sync_publishers_record_offsets_and_close_their_clients(redis_url):
    """`publish_rollback_unsafe` from a thread without a loop (a management command): each
    call runs on a fresh loop, whose history client is closed with it."""
    room = f"org:{uuid.uuid4()}"

    async def read(method: str, *args):
        store = RedisEventHistory(redis_url, prefix=channel_layer_prefix())
        try:
            return await getattr(store, method)(*args)
        finally:
            await store.aclose()

    start = asyncio.run(read("head"))

    def command() -> None:
        for n in range(3):
            publish_rollback_unsafe(room, "test:event", {"n": n})

    thread = threading.Thread(target=command)
    thread.start()
    thread.join(10)
    entries = asyncio.run(read("since", start, [room]))
    assert [e.body for e in entries] == [f'["test:event",{{"n":{n}}}]' for n in range(3)]
    assert not [loop for loop in history_module._histories if loop.is_closed()]


class CapturingLayer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    async def group_send(self, group: str, message: dict) -> None:
        self.sent.append((group, message))


class BrokenHistory(MemoryEventHistory):
    async def append(self, room: str, body: str) -> str:
        raise ConnectionError("redis is down")


@pytest.mark.parametrize("store", [MemoryEventHistory, BrokenHistory])
async def test_publish_records_then_sends_the_frame_with_its_offset(monkeypatch, caplog, store):
    history, layer = store(), CapturingLayer()
    monkeypatch.setattr(broadcast, "get_history", lambda: history)
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    await broadcast.apublish("org:a", "test:event", {"n": 1})  # never raises
    [(_, message)] = layer.sent
    if store is BrokenHistory:  # delivered live all the same, without an offset
        assert (message["frame"], message["offset"]) == ('42["test:event",{"n":1}]', None)
        assert "could not record test:event to org:a in the recovery history" in caplog.text
    else:
        [entry] = history.entries
        assert (entry.room, entry.body) == ("org:a", '["test:event",{"n":1}]')
        assert message["offset"] == entry.offset
        assert message["frame"] == f'42["test:event",{{"n":1}},"{entry.offset}"]'


def test_the_offset_is_the_last_argument_of_the_frame():
    frame = frame_with_offset('["machine:status",{"s":"ok"}]', "1700000000000-3")
    assert frame == '42["machine:status",{"s":"ok"},"1700000000000-3"]'
    assert frame_offset(frame) == "1700000000000-3"
    assert frame_offset('42["e",{"s":"ok"}]') is None
    assert frame_offset('42["e","not an offset"]') is None
    assert is_offset("0-7") and not is_offset("x-1") and not is_offset(7)


# -- holding live frames during a recovery ----------------------------------------------------


def fake_socket(max_queued_frames: int = 10) -> tuple[Socket, list[str], list[str]]:
    queued: list[str] = []
    closed: list[str] = []
    engine = SimpleNamespace(config=RealtimeConfig(max_queued_frames=max_queued_frames),
                             enqueue=lambda frame: queued.append(frame) or True,
                             close=closed.append)
    return Socket(SimpleNamespace(engine=engine), "/"), queued, closed


def test_held_frames_already_replayed_are_not_sent_twice():
    socket, queued, _ = fake_socket()
    socket.hold()
    frames = [frame_with_offset(f'["e",{n}]', f"5-{n}") for n in range(1, 6)]
    for frame in frames:
        assert socket.deliver(frame)
    assert socket.deliver('42["resync",{}]')
    assert queued == []
    assert socket.release(after="5-3") == 3
    assert queued == [frames[3], frames[4], '42["resync",{}]']
    newer = frame_with_offset('["e",6]', "5-6")
    assert socket.deliver(newer) and queued[-1] == newer  # not holding any more


def test_a_socket_that_holds_too_many_frames_is_a_slow_client():
    socket, _, closed = fake_socket(max_queued_frames=3)
    socket.hold()
    assert all(socket.deliver(f'42["e",{n}]') for n in range(3))
    assert not socket.deliver('42["e",3]')
    assert closed == ["slow client"]


# -- the connection layer, in process ---------------------------------------------------------


class RoomsNamespace(Namespace):
    """A recoverable namespace: `join` a room; the parked state is the user and the rooms."""

    recoverable = True

    async def on_connect(self, socket: Socket, auth: dict | None) -> None:
        socket.data["user"] = (auth or {}).get("user")

    async def on_join(self, socket: Socket, room: str) -> str:
        await socket.join(room)
        return "joined"

    def park_state(self, socket: Socket) -> dict:
        return {"user": socket.data["user"], "rooms": sorted(socket.rooms)}

    async def restore_state(self, socket: Socket, state: dict) -> bool:
        if state["user"] != socket.data["user"]:
            return False
        for room in state["rooms"]:
            await socket.join(room)
        return True


async def open_socket(app, auth: dict) -> tuple[WebsocketCommunicator, str]:
    communicator = WebsocketCommunicator(app, WS_PATH)
    connected, _ = await communicator.connect()
    assert connected
    parse_open(await recv_text(communicator))
    await communicator.send_to(text_data="40" + json.dumps(auth))
    return communicator, await recv_text(communicator)


async def publish_local(history, room: str, n: int) -> str:
    """What broadcast.apublish does, without the channel layer: record, then deliver here."""
    body = json.dumps(["e", n], separators=(",", ":"))
    offset = await history.append(room, body)
    get_hub().deliver_local(room, frame_with_offset(body, offset))
    return offset


def test_recovery_is_on_in_the_product_profile_with_a_two_minute_window():
    from realtime.server.conf import realtime_config
    from realtime.server.conformance import CONFORMANCE_CONFIG

    assert (RealtimeConfig().recovery, RealtimeConfig().recovery_window_ms) == (True, 120_000)
    product = realtime_config()  # settings.REALTIME, as vendhub.asgi reads it
    assert (product.recovery, product.recovery_window_ms) == (True, 120_000)
    assert CONFORMANCE_CONFIG.recovery is False


async def test_recovery_off_means_no_pid(memory_history):
    app = application(RealtimeConfig(recovery=False), {"/": RoomsNamespace()})
    communicator, reply = await open_socket(app, {"user": "u"})
    assert CONNECT_REPLY.match(reply), reply
    await communicator.disconnect()


async def test_a_replay_longer_than_the_queue_bound_is_paced_not_dropped(memory_history):
    app = application(RealtimeConfig(max_queued_frames=4, ping_interval_ms=60_000),
                      {"/": RoomsNamespace()})
    room = f"org:{uuid.uuid4()}"
    communicator, reply = await open_socket(app, {"user": "u"})
    pid = RECOVERY_CONNECT_REPLY.match(reply)["pid"]
    await communicator.send_to(text_data=f'420["join","{room}"]')
    assert await recv_text(communicator) == '430["joined"]'
    await communicator.disconnect()  # transport close: parked
    await asyncio.sleep(0.05)
    offsets = [await publish_local(memory_history, room, n) for n in range(20)]
    again, reply = await open_socket(app, {"user": "u", "pid": pid})  # no event received yet
    assert RECOVERY_CONNECT_REPLY.match(reply)["pid"] == pid
    frames = [await recv_text(again) for _ in range(20)]
    assert frames == [f'42["e",{n},"{offsets[n]}"]' for n in range(20)]
    await again.disconnect()


async def test_a_trimmed_history_gives_a_fresh_session(memory_history):
    app = application(RealtimeConfig(ping_interval_ms=60_000), {"/": RoomsNamespace()})
    room = f"org:{uuid.uuid4()}"
    communicator, reply = await open_socket(app, {"user": "u"})
    pid = RECOVERY_CONNECT_REPLY.match(reply)["pid"]
    await communicator.send_to(text_data=f'420["join","{room}"]')
    assert await recv_text(communicator) == '430["joined"]'
    first = await publish_local(memory_history, room, 0)
    assert await recv_text(communicator) == f'42["e",0,"{first}"]'
    await communicator.disconnect()
    await asyncio.sleep(0.05)
    for n in range(60):  # more than the history keeps
        await publish_local(memory_history, room, n)
    again, reply = await open_socket(app, {"user": "u", "pid": pid, "offset": first})
    assert RECOVERY_CONNECT_REPLY.match(reply)["pid"] != pid
    assert await again.receive_nothing(0.3)  # not in the room, nothing replayed
    await again.disconnect()


async def test_an_offset_from_an_older_session_replays_nothing_before_this_one(memory_history):
    """socket.io-client keeps its last offset across sessions: after a failed recovery it
    sends the old session's offset along with the new pid."""
    app = application(RealtimeConfig(ping_interval_ms=60_000), {"/": RoomsNamespace()})
    room = f"org:{uuid.uuid4()}"

    async def joined(auth: dict) -> tuple[WebsocketCommunicator, str]:
        communicator, reply = await open_socket(app, auth)
        await communicator.send_to(text_data=f'420["join","{room}"]')
        assert await recv_text(communicator) == '430["joined"]'
        return communicator, RECOVERY_CONNECT_REPLY.match(reply)["pid"]

    first, _ = await joined({"user": "u"})
    old_offset = await publish_local(memory_history, room, 0)
    assert await recv_text(first) == f'42["e",0,"{old_offset}"]'
    await first.disconnect()
    await publish_local(memory_history, room, 1)  # missed, and the session is then lost
    memory_history.sessions.clear()
    second, pid = await joined({"user": "u"})  # a fresh session, no event received
    await second.disconnect()
    await asyncio.sleep(0.05)
    offset = await publish_local(memory_history, room, 2)
    again, reply = await open_socket(app, {"user": "u", "pid": pid, "offset": old_offset})
    assert RECOVERY_CONNECT_REPLY.match(reply)["pid"] == pid
    assert await recv_text(again) == f'42["e",2,"{offset}"]'
    assert await again.receive_nothing(0.2)
    await again.disconnect()


async def test_a_session_left_with_41_is_not_parked(memory_history):
    app = application(RealtimeConfig(ping_interval_ms=60_000), {"/": RoomsNamespace()})
    communicator, reply = await open_socket(app, {"user": "u"})
    pid = RECOVERY_CONNECT_REPLY.match(reply)["pid"]
    await communicator.send_to(text_data="41")
    await communicator.disconnect()
    await asyncio.sleep(0.05)
    assert pid not in memory_history.sessions


# -- the product server over raw websockets ---------------------------------------------------

async def wait_parked(redis_url: str, pid: str, timeout: float = 3.0) -> None:
    """Until the server parked session `pid` (realtime/server/history.py SESSION_KEY, under the
    channel layer's prefix, which the server shares with the tests)."""
    key = prefixed(channel_layer_prefix(), SESSION_KEY.format(pid=pid))
    client = redis.from_url(redis_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await client.exists(key):
            assert asyncio.get_running_loop().time() < deadline, f"session {pid} not parked"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


@pytest.mark.redis
@pytest.mark.postgres
async def test_pid_in_the_connect_reply_and_offsets_on_room_events(gateway):
    room = f"org:{gateway.people.acme.id}"
    async with raw_client(gateway, gateway.tokens["viewer"]) as client:
        assert client.pid and client.pid != client.sid
        await client.subscribe(room)
        await publish(room, "test:event", {"n": 1})
        frame = await client.recv()
        name, payload, offset = json.loads(frame[2:])
        assert (name, payload) == ("test:event", {"n": 1}) and is_offset(offset)
        assert frame == f'42["test:event",{{"n":1}},"{offset}"]'


async def test_the_conformance_profile_has_no_recovery(conformance_server):
    async with socketio_websocket(conformance_server.url) as (_, reply):
        assert CONNECT_REPLY.match(reply), reply  # exactly {"sid"}, no pid


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.parametrize("received_before", [1, 0])
async def test_a_client_back_in_time_gets_its_rooms_and_every_missed_event(
        gateway, redis_url, received_before):
    room = f"org:{gateway.people.acme.id}"
    token = gateway.tokens["operator"]
    async with raw_client(gateway, token) as first:
        await first.subscribe(room)
        for n in range(received_before):
            await publish(room, "test:event", {"before": n})
            assert await first.next_event() == ["test:event", {"before": n}]
        sid, pid, offset = first.sid, first.pid, first.offset
    await wait_parked(redis_url, pid)
    for n in range(3):
        await publish(room, "test:event", {"missed": n})
    resume = {"pid": pid, "offset": offset} if offset else {"pid": pid}
    async with raw_client(gateway, token, **resume) as again:
        assert (again.sid, again.pid) == (sid, pid)
        for n in range(3):
            assert await again.next_event() == ["test:event", {"missed": n}]
        await publish(room, "test:event", {"live": True})  # still in the room, once
        assert await again.next_event() == ["test:event", {"live": True}]
        await again.assert_no_event(0.3)


@pytest.mark.redis
@pytest.mark.postgres
async def test_recovery_twice_in_a_row(gateway, redis_url):
    room = f"user:{gateway.people.operator.id}"
    token = gateway.tokens["operator"]
    async with raw_client(gateway, token) as client:
        await client.subscribe(room)
        pid, offset = client.pid, None
    for round_ in range(2):
        await wait_parked(redis_url, pid)
        await publish(room, "test:event", {"round": round_})
        resume = {"pid": pid, "offset": offset} if offset else {"pid": pid}
        async with raw_client(gateway, token, **resume) as client:
            assert client.pid == pid
            assert await client.next_event() == ["test:event", {"round": round_}]
            offset = client.offset
            await client.assert_no_event(0.2)


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_reconnect_on_another_process_recovers(gateway, second_gateway, redis_url):
    room = f"org:{gateway.people.acme.id}"
    token = gateway.tokens["manager"]
    async with raw_client(gateway, token) as on_a:
        await on_a.subscribe(room)
        await publish(room, "test:event", {"n": 0})
        assert await on_a.next_event() == ["test:event", {"n": 0}]
        sid, pid, offset = on_a.sid, on_a.pid, on_a.offset
    await wait_parked(redis_url, pid)
    for n in (1, 2):
        await publish(room, "test:event", {"n": n})
    async with raw_client(second_gateway, token, pid=pid, offset=offset) as on_b:
        assert (on_b.sid, on_b.pid) == (sid, pid)
        assert await on_b.next_event() == ["test:event", {"n": 1}]
        assert await on_b.next_event() == ["test:event", {"n": 2}]
        await publish(room, "test:event", {"n": 3})  # B joined the room's group
        assert await on_b.next_event() == ["test:event", {"n": 3}]
        await on_b.assert_no_event(0.3)


@pytest.mark.redis
@pytest.mark.postgres
async def test_after_the_window_the_client_gets_a_fresh_session(short_window_gateway, redis_url):
    gateway = short_window_gateway
    room = f"org:{gateway.people.acme.id}"
    token = gateway.tokens["viewer"]
    async with raw_client(gateway, token) as client:
        await client.subscribe(room)
        pid = client.pid
    await wait_parked(redis_url, pid)
    await publish(room, "test:event", {"missed": True})
    await asyncio.sleep(1.8)
    async with raw_client(gateway, token, pid=pid) as again:
        assert again.pid != pid
        await publish(room, "test:event", {"not": "subscribed"})
        await again.assert_no_event(0.4)


@pytest.mark.redis
@pytest.mark.postgres
async def test_another_users_token_cannot_take_a_session(gateway, redis_url):
    room = f"user:{gateway.people.operator.id}"
    async with raw_client(gateway, gateway.tokens["operator"]) as owner:
        await owner.subscribe(room)
        pid = owner.pid
    await wait_parked(redis_url, pid)
    await publish(room, "notification", {"private": True})
    async with raw_client(gateway, gateway.tokens["viewer"], pid=pid) as thief:
        assert thief.pid != pid
        await thief.assert_no_event(0.4)
    async with raw_client(gateway, gateway.tokens["operator"], pid=pid) as owner:
        assert owner.pid == pid  # still parked for its owner
        assert await owner.next_event() == ["notification", {"private": True}]
