"""Engine.IO v4 transports against the conformance server, byte for byte.

Polling is driven with raw httpx, websocket frames with `websockets`; `/engine.io/` echoes
every message back, `/socket.io/` is the Socket.IO endpoint.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.realtime.wire import (
    TIMEOUT,
    Polling,
    engine_websocket,
    parse_open,
    recv,
    wait_closed,
    websocket,
)

ECHO = "/engine.io/"


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


# -- handshake -------------------------------------------------------------------------


async def test_polling_handshake_is_the_exact_open_packet(conformance_server, http):
    response = await http.get(f"{conformance_server.url}/socket.io/?EIO=4&transport=polling")
    assert response.status_code == 200
    handshake = parse_open(response.text)
    assert handshake["upgrades"] == ["websocket"]
    assert response.text == (
        f'0{{"sid":"{handshake["sid"]}","upgrades":["websocket"],"pingInterval":300,'
        '"pingTimeout":200,"maxPayload":1000000}'
    )


async def test_websocket_handshake_offers_no_upgrades(conformance_server):
    async with engine_websocket(conformance_server.url) as (_, handshake):
        assert handshake["upgrades"] == []
        assert (handshake["pingInterval"], handshake["pingTimeout"]) == (300, 200)
        assert handshake["maxPayload"] == 1_000_000


async def test_every_handshake_gets_its_own_sid(conformance_server, http):
    sids = {(await Polling(http, conformance_server.url).open())["sid"] for _ in range(3)}
    assert len(sids) == 3


async def test_cors_allows_any_origin_in_the_conformance_profile(conformance_server, http):
    response = await http.get(f"{conformance_server.url}/socket.io/?EIO=4&transport=polling",
                              headers={"Origin": "http://elsewhere.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://elsewhere.example"
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_cors_preflight(conformance_server, http):
    response = await http.options(
        f"{conformance_server.url}/socket.io/?EIO=4&transport=polling",
        headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://elsewhere.example"
    assert "POST" in response.headers["access-control-allow-methods"]


@pytest.mark.parametrize(
    ("method", "query", "code", "message"),
    [
        ("GET", "transport=polling", 5, "Unsupported protocol version"),
        ("GET", "EIO=3&transport=polling", 5, "Unsupported protocol version"),
        ("GET", "EIO=abc&transport=polling", 5, "Unsupported protocol version"),
        ("GET", "EIO=4", 0, "Transport unknown"),
        ("GET", "EIO=4&transport=tobi", 0, "Transport unknown"),
        ("GET", "EIO=4&transport=constructor", 0, "Transport unknown"),
        ("POST", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("PUT", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("GET", "EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"),
        ("POST", "EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"),
    ],
)
async def test_bad_handshakes_get_400(conformance_server, http, method, query, code, message):
    response = await http.request(method, f"{conformance_server.url}/socket.io/?{query}",
                                  content=b"4hello")
    assert response.status_code == 400
    assert response.json() == {"code": code, "message": message}


@pytest.mark.parametrize("query", ["EIO=3&transport=websocket", "EIO=4&transport=polling",
                                   "transport=websocket", "EIO=4&transport=websocket&sid=nope"])
async def test_bad_websocket_handshakes_are_refused(conformance_server, query):
    from websockets.asyncio.client import connect

    url = f"{conformance_server.ws_url}/socket.io/?{query}"
    with pytest.raises(InvalidStatus):
        async with connect(url, open_timeout=TIMEOUT):
            pass


# -- long-polling framing ------------------------------------------------------------------


async def test_post_answers_ok_and_packets_of_one_post_come_back_in_one_get(
    conformance_server, http
):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    response = await session.post("4hello\x1e4€uro\x1e4")
    assert (response.status_code, response.text) == (200, "ok")
    assert await session.get_text() == "4hello\x1e4€uro\x1e4"


async def test_binary_travels_as_b_base64_in_polling(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    await session.send("bAQIDBA==\x1e4text")
    assert await session.get_text() == "bAQIDBA==\x1e4text"


async def test_a_waiting_get_is_released_by_a_message(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    waiting = asyncio.create_task(session.get_text())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await session.send("4late")
    assert await asyncio.wait_for(waiting, TIMEOUT) == "4late"


async def test_an_undecodable_post_closes_the_session(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    response = await session.post("b!!!not-base64")
    assert response.status_code == 400
    assert (await session.get()).status_code == 400


async def test_an_unknown_packet_type_in_a_post_closes_the_session(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    assert (await session.post("9what")).status_code == 400
    assert (await session.get()).status_code == 400


async def test_a_second_concurrent_get_closes_the_session(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    first = asyncio.create_task(session.get())
    await asyncio.sleep(0.1)
    second = await session.get()
    assert second.status_code == 400
    first_response = await asyncio.wait_for(first, TIMEOUT)
    assert (first_response.status_code, first_response.text) == (200, "1")
    assert (await session.get()).status_code == 400
    assert (await session.post("4hi")).status_code == 400


async def test_a_client_close_by_post_releases_the_waiting_get_with_noop(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    waiting = asyncio.create_task(session.get())
    await asyncio.sleep(0.1)
    await session.send("1")
    response = await asyncio.wait_for(waiting, TIMEOUT)
    assert (response.status_code, response.text) == (200, "6")
    assert (await session.get()).status_code == 400


async def test_an_oversized_post_is_refused_and_closes_the_session(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    response = await session.post("4" + "x" * 1_000_000)
    assert response.status_code == 413
    assert (await session.get()).status_code == 400


async def test_a_post_of_exactly_max_payload_is_accepted(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    body = "4" + "x" * 999_999
    await session.send(body)
    assert await session.get_text() == body


# -- websocket -------------------------------------------------------------------------------


async def test_websocket_echoes_text_as_text_and_binary_as_binary(conformance_server):
    async with engine_websocket(conformance_server.url, ECHO) as (ws, _):
        await ws.send("4hello")
        assert await recv(ws) == "4hello"
        await ws.send(b"\x00\x01\xff")
        assert await recv(ws) == b"\x00\x01\xff"
        await ws.send("4")
        assert await recv(ws) == "4"


async def test_websocket_base64_from_a_force_base64_client_is_binary(conformance_server):
    async with engine_websocket(conformance_server.url, ECHO) as (ws, _):
        await ws.send("bAQID")
        assert await recv(ws) == b"\x01\x02\x03"


@pytest.mark.parametrize("frame", ["abc", "1", "", "9"])
async def test_websocket_closes_on_an_unknown_packet_or_a_client_close(conformance_server, frame):
    async with engine_websocket(conformance_server.url, ECHO) as (ws, _):
        await ws.send(frame)
        assert await wait_closed(ws, 2) in ([], ["2"])


async def test_websocket_message_over_max_payload_closes_the_connection(conformance_server):
    async with engine_websocket(conformance_server.url, ECHO) as (ws, _):
        await ws.send("4" + "x" * 1_000_000)
        await wait_closed(ws, 3)


async def test_websocket_message_of_max_payload_is_echoed(conformance_server):
    async with engine_websocket(conformance_server.url, ECHO) as (ws, _):
        body = "4" + "x" * 999_999
        await ws.send(body)
        assert await recv(ws) == body


# -- upgrade ---------------------------------------------------------------------------------


async def test_polling_to_websocket_upgrade(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    waiting = asyncio.create_task(session.get())
    await asyncio.sleep(0.05)
    async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as ws:
        await ws.send("2probe")
        assert await recv(ws) == "3probe"
        released = await asyncio.wait_for(waiting, TIMEOUT)
        assert (released.status_code, released.text) == (200, "6")
        await ws.send("5")
        await ws.send("4after upgrade")
        assert await recv(ws) == "4after upgrade"  # and no stray "6" before it
        # The session now lives on the websocket: HTTP requests for its sid are refused.
        assert (await session.get()).status_code == 400
        assert (await session.post("4x")).status_code == 400
        await ws.send(b"\x07")
        assert await recv(ws) == b"\x07"


async def test_messages_queued_during_the_upgrade_are_flushed_on_the_websocket(
    conformance_server, http
):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as ws:
        await ws.send("2probe")
        assert await recv(ws) == "3probe"
        await session.send("4queued while upgrading")
        await ws.send("5")
        assert await recv(ws) == "4queued while upgrading"


async def test_a_get_during_the_upgrade_is_answered_with_noop(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as ws:
        await ws.send("2probe")
        assert await recv(ws) == "3probe"
        response = await session.get(timeout=1.0)
        assert (response.status_code, response.text) == (200, "6")
        await ws.send("5")
        await ws.send("4ok")
        assert await recv(ws) == "4ok"


async def test_a_second_websocket_for_an_upgraded_sid_is_closed(conformance_server, http):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as ws:
        await ws.send("2probe")
        assert await recv(ws) == "3probe"
        await ws.send("5")
        await ws.send("4upgraded")
        assert await recv(ws) == "4upgraded"  # the server has handled `5`
        # Accepted, then closed at once without a frame, as by the reference server.
        async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as second:
            assert await wait_closed(second, 2) == []
        await ws.send("4still here")
        assert await recv(ws) == "4still here"


async def test_a_second_websocket_during_an_upgrade_is_closed_and_the_upgrade_completes(
    conformance_server, http
):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as ws:
        await ws.send("2probe")
        assert await recv(ws) == "3probe"
        async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as second:
            assert await wait_closed(second, 2) == []
        await ws.send("5")
        await ws.send("4upgraded")
        assert await recv(ws) == "4upgraded"


async def test_an_upgrade_without_probe_is_refused_and_polling_keeps_working(
    conformance_server, http
):
    session = Polling(http, conformance_server.url, ECHO)
    await session.open()
    async with websocket(conformance_server.url, ECHO, f"&sid={session.sid}") as ws:
        await ws.send("5")
        await wait_closed(ws, 2)
    await session.send("4polling")
    assert await session.get_text() == "4polling"


async def test_open_packet_json_is_compact(conformance_server, http):
    response = await http.get(f"{conformance_server.url}/engine.io/?EIO=4&transport=polling")
    body = response.text
    assert body == "0" + json.dumps(json.loads(body[1:]), separators=(",", ":"))
