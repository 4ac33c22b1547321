"""Socket.IO v5 on the conformance server, with exact frames: namespaces, CONNECT and
CONNECT_ERROR, events, acks, binary attachments, DISCONNECT, the connect timeout and
malformed packets."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.realtime.wire import (
    CONNECT_REPLY,
    Polling,
    engine_websocket,
    recv_skipping_pings,
    socketio_websocket,
    wait_closed,
)


async def recv_all_answering_pings(ws, timeout: float) -> list:
    """Frames other than pings received until the server closes the websocket."""
    frames = []

    async def drain() -> None:
        try:
            while True:
                frame = await ws.recv()
                if frame == "2":
                    await ws.send("3")
                else:
                    frames.append(frame)
        except ConnectionClosed:
            pass

    await asyncio.wait_for(drain(), timeout)
    return frames


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


async def test_connect_replies_with_sid_then_emits_auth(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, reply):
        assert CONNECT_REPLY.match(reply) and reply.startswith('40{"sid":')
        assert await recv_skipping_pings(ws) == '42["auth",{}]'


async def test_connect_auth_payload_is_handed_to_the_namespace(conformance_server):
    async with socketio_websocket(conformance_server.url, '40{"token":"abc","n":1}') as (ws, _):
        assert await recv_skipping_pings(ws) == '42["auth",{"token":"abc","n":1}]'


@pytest.mark.parametrize(
    ("packet", "auth"),
    [("40/custom", "{}"), ("40/custom,", "{}"), ('40/custom,{"token":"abc"}', '{"token":"abc"}')],
)
async def test_custom_namespace_connect_forms(conformance_server, packet, auth):
    async with engine_websocket(conformance_server.url) as (ws, _):
        await ws.send(packet)
        reply = await recv_skipping_pings(ws)
        match = CONNECT_REPLY.match(reply)
        assert match and match["nsp"] == "/custom,", reply
        assert await recv_skipping_pings(ws) == f'42/custom,["auth",{auth}]'


async def test_unknown_namespace_gets_connect_error(conformance_server):
    async with engine_websocket(conformance_server.url) as (ws, _):
        await ws.send("40/random")
        assert await recv_skipping_pings(ws) == '44/random,{"message":"Invalid namespace"}'
        # The connection stays usable for a valid namespace.
        await ws.send("40")
        assert (await recv_skipping_pings(ws)).startswith('40{"sid":')


async def test_each_namespace_gets_its_own_sid(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, reply):
        await recv_skipping_pings(ws)
        await ws.send("40/custom,")
        custom = await recv_skipping_pings(ws)
        assert CONNECT_REPLY.match(reply)["sid"] != CONNECT_REPLY.match(custom)["sid"]


async def test_event_is_answered_with_message_back(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send('42["message",1,"2",{"3":[true,null]}]')
        assert await recv_skipping_pings(ws) == '42["message-back",1,"2",{"3":[true,null]}]'


async def test_event_on_a_custom_namespace(conformance_server):
    async with engine_websocket(conformance_server.url) as (ws, _):
        await ws.send("40/custom,")
        await recv_skipping_pings(ws)
        await recv_skipping_pings(ws)
        await ws.send('42/custom,["message","hi"]')
        assert await recv_skipping_pings(ws) == '42/custom,["message-back","hi"]'


async def test_client_ack_request_is_answered_with_the_same_id(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send('4213["message-with-ack",1,"2",{"3":[true]}]')
        assert await recv_skipping_pings(ws) == '4313[1,"2",{"3":[true]}]'
        await ws.send('42/custom,7["message-with-ack"]')  # not connected to /custom: ignored
        await ws.send('420["message-with-ack"]')
        assert await recv_skipping_pings(ws) == "430[]"


async def test_binary_event_round_trip_on_websocket(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send('452-["message",{"_placeholder":true,"num":0},'
                      '{"x":{"_placeholder":true,"num":1}}]')
        await ws.send(b"\x01\x02")
        await ws.send(b"\x03")
        assert await recv_skipping_pings(ws) == (
            '452-["message-back",{"_placeholder":true,"num":0},'
            '{"x":{"_placeholder":true,"num":1}}]'
        )
        assert await recv_skipping_pings(ws) == b"\x01\x02"
        assert await recv_skipping_pings(ws) == b"\x03"


async def test_binary_ack_round_trip_on_websocket(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send('451-42["message-with-ack",{"_placeholder":true,"num":0},"text"]')
        await ws.send(b"\xff\x00")
        assert await recv_skipping_pings(ws) == '461-42[{"_placeholder":true,"num":0},"text"]'
        assert await recv_skipping_pings(ws) == b"\xff\x00"


async def test_binary_on_custom_namespace(conformance_server):
    async with engine_websocket(conformance_server.url) as (ws, _):
        await ws.send("40/custom,")
        await recv_skipping_pings(ws)
        await recv_skipping_pings(ws)
        await ws.send('451-/custom,["message",{"_placeholder":true,"num":0}]')
        await ws.send(b"\x09")
        assert await recv_skipping_pings(ws) == (
            '451-/custom,["message-back",{"_placeholder":true,"num":0}]'
        )
        assert await recv_skipping_pings(ws) == b"\x09"


async def test_binary_event_round_trip_over_polling(conformance_server, http):
    session = Polling(http, conformance_server.url)
    await session.open()
    await session.send("40")
    await session.get_until(lambda p: p.startswith('42["auth"'))
    await session.send('451-["message",{"_placeholder":true,"num":0}]\x1ebAQID')
    packets = await session.get_until(lambda p: p.startswith("b"))
    assert packets[-2:] == ['451-["message-back",{"_placeholder":true,"num":0}]', "bAQID"]


async def test_polling_connect_and_ack(conformance_server, http):
    session = Polling(http, conformance_server.url)
    await session.open()
    await session.send('40{"token":"t"}')
    packets = await session.get_until(lambda p: p.startswith('42["auth"'))
    assert CONNECT_REPLY.match(packets[0])
    assert packets[1] == '42["auth",{"token":"t"}]'
    await session.send('425["message-with-ack","a"]\x1e42["message","b"]')
    packets = await session.get_until(lambda p: p.startswith("42"))
    assert packets == ['435["a"]', '42["message-back","b"]']


async def test_namespace_disconnect_leaves_only_that_namespace(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send("40/custom,")
        await recv_skipping_pings(ws)
        await recv_skipping_pings(ws)
        await ws.send("41/custom,")
        await ws.send('42/custom,["message","gone"]')  # ignored: no longer connected
        await ws.send('42["message","still"]')
        assert await recv_skipping_pings(ws) == '42["message-back","still"]'
        await ws.send("41")
        await ws.send('42["message","ignored"]')
        await ws.send("40")  # a fresh CONNECT on the same Engine.IO session works
        reply = await recv_skipping_pings(ws)
        assert reply.startswith('40{"sid":'), reply


async def test_no_connect_within_the_connect_timeout_closes(conformance_server):
    async with engine_websocket(conformance_server.url) as (ws, _):
        opened = time.monotonic()
        # Answer pings: only the connect timeout may close this session.
        frames = await recv_all_answering_pings(ws, 3)
        assert frames == []
        elapsed = time.monotonic() - opened
        assert 0.9 < elapsed < 2.0, elapsed


async def test_no_connect_within_the_connect_timeout_closes_polling(conformance_server, http):
    session = Polling(http, conformance_server.url)
    await session.open()
    opened = time.monotonic()
    while True:
        response = await session.get(3)
        if response.status_code != 200 or response.text == "1":
            break
        if response.text == "2":
            await session.post("3")
    assert 0.9 < time.monotonic() - opened < 2.0


async def test_connect_in_time_disarms_the_connect_timeout(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await asyncio.sleep(0)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            frame = await asyncio.wait_for(ws.recv(), 1)
            assert frame == "2"
            await ws.send("3")
        await ws.send('42["message",1]')
        assert await recv_skipping_pings(ws) == '42["message-back",1]'


@pytest.mark.parametrize(
    "frame",
    [
        "4abc",
        "42{}",
        '42abc["message"]',
        '42["message"',
        "42[1]",
        "42[]",
        '42"message"',
        "4",
        "49",
        "44{}",
        '451["message"]',
        '453-["message",{"_placeholder":true,"num":0}]',  # only if followed by text, below
        '42/custom,["message"]x',
        "40[]",
        "41{}",
        "43[1]",
    ],
)
async def test_malformed_packet_closes_the_connection(conformance_server, frame):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send(frame)
        if frame.startswith("453-"):
            await ws.send(b"\x00")
            await ws.send('42["message",1]')  # text while attachments are still pending
        frames = await wait_closed(ws, 2)
        assert all(f == "2" for f in frames), frames


async def test_binary_garbage_closes_the_connection(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send(b"\xde\xad\xbe\xef")
        frames = await wait_closed(ws, 2)
        assert all(f == "2" for f in frames), frames


async def test_malformed_packet_over_polling_closes_the_session(conformance_server, http):
    session = Polling(http, conformance_server.url)
    await session.open()
    await session.send("40")
    await session.get_until(lambda p: p.startswith('42["auth"'))
    await session.post("42{}")
    response = await session.get()
    assert response.status_code == 400 or response.text == "1"
    assert (await session.get()).status_code == 400


async def test_event_before_connect_is_ignored(conformance_server):
    async with engine_websocket(conformance_server.url) as (ws, _):
        await ws.send('42["message","early"]')
        await ws.send("40")
        assert (await recv_skipping_pings(ws)).startswith('40{"sid":')
        assert await recv_skipping_pings(ws) == '42["auth",{}]'
        await ws.send('42["message","late"]')
        assert await recv_skipping_pings(ws) == '42["message-back","late"]'


async def test_unicode_and_nested_payloads_are_compact_json(conformance_server):
    payload = ["message", {"é": "ünïcödé 😀", "list": [1, 2.5, None, False]}]
    async with socketio_websocket(conformance_server.url) as (ws, _):
        await recv_skipping_pings(ws)
        await ws.send("42" + json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        reply = await recv_skipping_pings(ws)
        assert reply == "42" + json.dumps(["message-back", payload[1]], ensure_ascii=False,
                                          separators=(",", ":"))
