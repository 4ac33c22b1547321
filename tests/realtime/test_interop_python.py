"""Interop with python-socketio's AsyncClient against the real product server, over
websocket only and over polling with the upgrade to websocket."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
import socketio

from realtime.server.history import is_offset
from tests.realtime.product import publish

pytestmark = [pytest.mark.interop, pytest.mark.redis, pytest.mark.postgres]

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling+upgrade": ["polling", "websocket"],
}


@asynccontextmanager
async def client(url: str, token: str | None, transports: list[str]):
    sio = socketio.AsyncClient(reconnection=False)
    sio.received = asyncio.Queue()
    sio.connect_errors = []
    sio.offsets = []

    @sio.on("*")
    async def any_event(event, *args):
        # Room events carry their recovery offset as the last argument (python-socketio
        # does not implement connection state recovery and passes it on): keep it apart.
        if args and is_offset(args[-1]):
            sio.offsets.append(args[-1])
            args = args[:-1]
        await sio.received.put([event, *args])

    @sio.event
    async def connect_error(data):
        sio.connect_errors.append(data)

    try:
        await sio.connect(url, auth={"token": token} if token else None,
                          transports=transports, wait_timeout=5)
        yield sio
    finally:
        await asyncio.wait_for(sio.disconnect(), 5)


async def expect_upgrade(sio: socketio.AsyncClient, transports: list[str]) -> None:
    if "polling" in transports:
        for _ in range(50):
            if sio.transport() == "websocket":
                return
            await asyncio.sleep(0.1)
    assert sio.transport() == "websocket"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connect_subscribe_receive_and_ack(gateway, transport):
    room = f"machine:{gateway.people.machine.id}"
    async with client(gateway.url, gateway.tokens["operator"], TRANSPORTS[transport]) as sio:
        assert sio.connected
        ack = await sio.call("subscribe", {"room": room}, timeout=5)
        assert ack == {"event": "subscribed", "data": {"room": room}}
        snapshot = await asyncio.wait_for(sio.received.get(), 5)  # the machine's state, at once
        assert snapshot[0] == "machine:telemetry"
        assert snapshot[1]["machineId"] == str(gateway.people.machine.id)
        await expect_upgrade(sio, TRANSPORTS[transport])
        await publish(room, "machine:status", {"machineId": str(gateway.people.machine.id),
                                               "status": "online"})
        event = await asyncio.wait_for(sio.received.get(), 5)
        assert event == ["machine:status", {"machineId": str(gateway.people.machine.id),
                                            "status": "online"}]
        assert len(sio.offsets) == 1
        ack = await sio.call("unsubscribe", {"room": room}, timeout=5)
        assert ack == {"event": "unsubscribed", "data": {"room": room}}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_token_is_refused(gateway, transport):
    with pytest.raises(socketio.exceptions.ConnectionError):
        async with client(gateway.url, "not-a-token", TRANSPORTS[transport]):
            pass


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_token_connect_error_carries_the_message(gateway, transport):
    sio = socketio.AsyncClient(reconnection=False)
    errors = []
    sio.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(gateway.url, auth={"token": "not-a-token"},
                          transports=TRANSPORTS[transport], wait_timeout=5)
    await sio.disconnect()
    assert errors and errors[0]["message"].startswith("Invalid token"), errors


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_room_of_another_organization_is_refused(gateway, transport):
    room = f"machine:{gateway.people.rival_machine.id}"
    async with client(gateway.url, gateway.tokens["manager"], TRANSPORTS[transport]) as sio:
        ack = await sio.call("subscribe", {"room": room}, timeout=5)
        assert ack["event"] == "error"
        assert ack["data"]["room"] == room
        await publish(room, "machine:status", {"secret": True})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sio.received.get(), 0.7)
