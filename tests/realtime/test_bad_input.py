"""Bad input: the offending connection is closed cleanly, the server logs it, and other
clients keep working."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.realtime.conftest import wait_for_log
from tests.realtime.product import publish, raw_client
from tests.realtime.wire import (
    Polling,
    engine_websocket,
    recv_skipping_pings,
    socketio_websocket,
    wait_closed,
)


@asynccontextmanager
async def bystander(server):
    """A healthy Socket.IO client that must keep working while others misbehave."""
    async with socketio_websocket(server.url) as (ws, _):
        assert await recv_skipping_pings(ws) == '42["auth",{}]'
        yield ws


async def assert_still_working(ws, n: int) -> None:
    await ws.send(f'42["message",{n}]')
    assert await recv_skipping_pings(ws) == f'42["message-back",{n}]'


@pytest.mark.parametrize(
    ("frames", "logged"),
    [
        (["4abc"], "malformed Socket.IO packet"),
        (["42{}"], "malformed Socket.IO packet"),
        (['42abc["message"]'], "malformed Socket.IO packet"),
        (['42["message",}'], "malformed Socket.IO packet"),  # invalid JSON
        (["4\x00\xff"], "malformed Socket.IO packet"),
        ([b"\xde\xad\xbe\xef"], "malformed Socket.IO packet"),  # binary garbage
        (['451-["message",{"_placeholder":true,"num":5}]', b"\x00"],
         "malformed Socket.IO packet"),  # placeholder out of range
        (["x-not-engine-io"], "malformed frame"),
        (["4" + "x" * 1_000_000], "over maxPayload"),
    ],
)
async def test_bad_websocket_input_closes_only_that_connection(conformance_server, frames, logged):
    async with bystander(conformance_server) as healthy:
        await assert_still_working(healthy, 1)
        async with engine_websocket(conformance_server.url) as (bad, handshake):
            await bad.send("40")
            assert (await recv_skipping_pings(bad)).startswith('40{"sid":')
            for frame in frames:
                await bad.send(frame)
            remaining = await wait_closed(bad, 3)
            assert all(f in ("2", '42["auth",{}]') for f in remaining), remaining
            assert bad.close_code == 1000
        log = wait_for_log(conformance_server, f"session {handshake['sid']}: ")
        assert logged in log.split(f"session {handshake['sid']}: ", 1)[1].splitlines()[0]
        await assert_still_working(healthy, 2)


@pytest.mark.parametrize(
    ("body", "status", "logged"),
    [
        ("42{}", 200, "malformed Socket.IO packet"),
        # Before CONNECT a session may send a CONNECT, not a megabyte.
        ("4" + "x" * 1_000_000, 413, "over the limit of 16384 bytes before authentication"),
        ("b###", 400, "bad polling payload"),
        (b"4\xff\xfe", 400, "bad polling payload"),  # not UTF-8
        ("40\x1e\x1e42[]", 400, "bad polling payload"),  # empty packet between separators
    ],
)
async def test_bad_polling_input_closes_only_that_session(conformance_server, body, status,
                                                          logged):
    async with bystander(conformance_server) as healthy, httpx.AsyncClient() as http:
        session = Polling(http, conformance_server.url)
        await session.open()
        response = await session.post(body)
        assert response.status_code == status
        after = await session.get()
        assert after.status_code == 400 or after.text == "1"
        assert (await session.get()).status_code == 400
        wait_for_log(conformance_server, f"session {session.sid}: ")
        line = conformance_server.log().split(f"session {session.sid}: ", 1)[1].splitlines()[0]
        assert logged in line
        await assert_still_working(healthy, 3)


async def test_too_many_binary_attachments_are_refused(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(11))
        await ws.send(f'4511-["message",{placeholders}]')
        await wait_closed(ws, 2)


async def test_deeply_nested_json_is_refused(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send('42["message",' + "[" * 5000 + "]" * 5000 + "]")
        await wait_closed(ws, 2)


# -- product profile ---------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
async def test_subscribe_flood_closes_the_connection_and_others_keep_receiving(gateway):
    room = f"machine:{gateway.people.machine.id}"
    async with raw_client(gateway, gateway.tokens["operator"]) as healthy:
        assert (await healthy.subscribe(room))["event"] == "subscribed"
        async with raw_client(gateway, gateway.tokens["operator"]) as flooder:
            for ack_id in range(200):
                await flooder.ws.send(f"42{ack_id}" + json.dumps(
                    ["subscribe", {"room": room}], separators=(",", ":")))
            frames = await wait_closed(flooder.ws, 5)
            acks = [f for f in frames if isinstance(f, str) and f.startswith("43")]
            assert len(acks) <= 50, len(acks)
        wait_for_log(gateway.server, "subscribe flood, closing the connection")
        await publish(room, "test:event", "still here")
        assert await healthy.next_event() == ["test:event", "still here"]


@pytest.mark.redis
@pytest.mark.postgres
async def test_malformed_packet_from_an_authenticated_client_closes_only_it(gateway):
    room = f"org:{gateway.people.acme.id}"
    async with raw_client(gateway, gateway.tokens["viewer"]) as healthy:
        assert (await healthy.subscribe(room))["event"] == "subscribed"
        async with raw_client(gateway, gateway.tokens["viewer"]) as bad:
            assert (await bad.subscribe(room))["event"] == "subscribed"
            await bad.ws.send('42["subscribe",{"room":')
            await wait_closed(bad.ws, 3)
        wait_for_log(gateway.server, "malformed Socket.IO packet")
        await publish(room, "test:event", {"ok": True})
        assert await healthy.next_event() == ["test:event", {"ok": True}]
