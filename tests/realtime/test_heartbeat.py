"""Heartbeat: the server pings every pingInterval and closes a session that does not answer
within pingTimeout, on either transport (conformance profile: 300 ms + 200 ms)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.realtime.wire import Polling, engine_websocket, recv, socketio_websocket, wait_closed

INTERVAL, TIMEOUT = 0.3, 0.2
SLACK = 0.5  # scheduling noise on a loaded CI machine


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


async def test_websocket_client_that_stops_answering_pings_is_closed(conformance_server):
    async with engine_websocket(conformance_server.url) as (ws, _):
        opened = time.monotonic()
        assert await recv(ws, 1) == "2"
        pinged = time.monotonic()
        assert INTERVAL - 0.05 < pinged - opened < INTERVAL + SLACK
        assert await wait_closed(ws, 2) == []
        closed = time.monotonic()
        assert TIMEOUT - 0.05 < closed - pinged < TIMEOUT + SLACK
        assert closed - opened < INTERVAL + TIMEOUT + SLACK


async def test_socketio_connection_that_stops_answering_pings_is_closed(conformance_server):
    async with socketio_websocket(conformance_server.url) as (ws, reply):
        opened = time.monotonic()
        assert reply.startswith('40{"sid":')
        frames = await wait_closed(ws, 2)
        assert frames == ['42["auth",{}]', "2"]
        assert time.monotonic() - opened < INTERVAL + TIMEOUT + SLACK


async def test_websocket_client_that_answers_pings_stays_connected(conformance_server):
    async with engine_websocket(conformance_server.url, "/engine.io/") as (ws, _):
        for _ in range(4):  # four heartbeats: well past interval + timeout
            assert await recv(ws, 1) == "2"
            await ws.send("3")
        await ws.send("4alive")
        assert await recv(ws, 1) == "4alive"


async def test_silent_polling_session_is_closed_with_no_get_waiting(conformance_server, http):
    session = Polling(http, conformance_server.url)
    await session.open()
    await asyncio.sleep(INTERVAL + TIMEOUT + 0.3)
    response = await session.get()
    assert response.status_code == 400
    assert response.json() == {"code": 1, "message": "Session ID unknown"}


async def test_polling_session_that_answers_pings_stays_open(conformance_server, http):
    session = Polling(http, conformance_server.url, "/engine.io/")
    await session.open()
    started = time.monotonic()
    for _ in range(3):
        assert await session.get_text(1) == "2"
        await session.send("3")
    assert time.monotonic() - started > INTERVAL * 2
    await session.send("4alive")
    assert await session.get_text(1) == "4alive"


async def test_polling_get_receives_the_ping_and_close_follows_without_pong(
    conformance_server, http
):
    session = Polling(http, conformance_server.url, "/engine.io/")
    await session.open()
    assert await session.get_text(1) == "2"
    started = time.monotonic()
    response = await session.get(1)  # waits: the next thing the server does is close
    assert (response.status_code, response.text) == (200, "1")
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert (await session.get()).status_code == 400
