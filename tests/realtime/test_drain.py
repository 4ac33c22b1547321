"""Draining a server process (realtime/server/drain.py), in process: new sessions refused,
the open ones closed and parked for recovery, the listeners (the health check) told; the
SIGTERM hook is installed only under uvicorn. End to end with real processes:
tests/cluster/test_rolling_restart.py."""

from __future__ import annotations

import asyncio
import signal

import pytest
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator

from realtime.server import drain as drain_module
from realtime.server.conf import RealtimeConfig
from realtime.server.drain import DrainOnSigterm, drain, install_sigterm_drain, on_drain
from realtime.server.routing import endpoints, socketio_server
from tests.realtime.test_gateway_inprocess import WS_PATH, recv_text
from tests.realtime.test_recovery import RoomsNamespace, open_socket
from tests.realtime.wire import RECOVERY_CONNECT_REPLY

CONFIG = RealtimeConfig(ping_interval_ms=60_000)


@pytest.fixture
def gateway():
    server = socketio_server(CONFIG, {"/": RoomsNamespace()})
    http, websocket = endpoints("socket.io", server)
    app = ProtocolTypeRouter({"http": URLRouter(http), "websocket": URLRouter(websocket)})
    return server, app


@pytest.fixture
def told(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(drain_module, "_listeners", [])
    on_drain(lambda: calls.append("draining"))
    return calls


async def test_a_drain_closes_every_session_parked_and_refuses_new_ones(gateway, memory_history,
                                                                       told):
    server, app = gateway
    communicator, reply = await open_socket(app, {"user": "u"})
    pid = RECOVERY_CONNECT_REPLY.match(reply)["pid"]
    await communicator.send_to(text_data='420["join","org:a"]')
    assert await recv_text(communicator) == '430["joined"]'
    assert await drain([server], timeout=2) == 1
    assert told == ["draining"]
    assert (await communicator.receive_output(1))["type"] == "websocket.close"
    assert memory_history.sessions[pid][1]["rooms"] == ["org:a"]  # parked: recoverable
    assert not server.sessions
    refused = WebsocketCommunicator(app, WS_PATH)
    connected, _ = await refused.connect()
    assert not connected
    poll = HttpCommunicator(app, "GET", "/socket.io/?EIO=4&transport=polling")
    response = await poll.get_response()
    assert response["status"] == 503
    assert dict(response["headers"])[b"Retry-After"] == b"1"


async def test_a_drain_answers_a_waiting_long_poll_with_a_close(gateway, memory_history, told):
    server, app = gateway
    handshake = await HttpCommunicator(
        app, "GET", "/socket.io/?EIO=4&transport=polling").get_response()
    sid = handshake["body"].decode().split('"sid":"')[1].split('"')[0]
    waiting = HttpCommunicator(app, "GET", f"/socket.io/?EIO=4&transport=polling&sid={sid}")
    task = asyncio.ensure_future(waiting.get_response(timeout=3))
    await asyncio.sleep(0.1)
    await drain([server], timeout=1)
    assert (await task)["body"] == b"1"  # Engine.IO CLOSE: the client reconnects


def test_the_sigterm_hook_is_installed_only_under_uvicorn(gateway):
    server, _ = gateway
    before = signal.getsignal(signal.SIGTERM)
    try:
        assert install_sigterm_drain([server], delay=0) is False
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, before)


async def test_the_lifespan_application_answers_startup_and_shutdown(gateway):
    server, _ = gateway
    messages = asyncio.Queue()
    for kind in ("lifespan.startup", "lifespan.shutdown"):
        messages.put_nowait({"type": kind})
    sent: list[str] = []

    async def send(message):
        sent.append(message["type"])

    await DrainOnSigterm([server], delay=0)({"type": "lifespan"}, messages.get, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
