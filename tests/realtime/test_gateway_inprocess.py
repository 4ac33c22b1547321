"""The gateway as an ASGI application in the test process (Channels communicators): server →
client acks, per-deployment configuration, allowed origins, and the product profile's
endpoints (no conformance echo, no `/custom` namespace)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.core.asgi import get_asgi_application
from django.test import override_settings

from realtime.routing import build_application
from realtime.server.conf import RealtimeConfig, realtime_config
from realtime.server.routing import endpoints, socketio_server
from realtime.server.sio import Namespace, Socket
from tests.realtime.wire import CONNECT_REPLY, parse_open

WS_PATH = "/socket.io/?EIO=4&transport=websocket"
POLLING_PATH = "/socket.io/?EIO=4&transport=polling"


class AskingNamespace(Namespace):
    """Asks the client a question with an ack id, from inside an event handler, and answers
    the client's own ack with what it said."""

    def __init__(self) -> None:
        self.answers: asyncio.Queue = asyncio.Queue()
        self.release = asyncio.Event()

    async def on_ask(self, socket: Socket, question) -> dict:
        try:
            answer = await socket.call("question", question, timeout=1.0)
        except TimeoutError:
            answer = "timeout"
        await self.answers.put(answer)
        return {"answer": answer}

    async def on_slow_join(self, socket: Socket, room: str) -> str:
        await self.release.wait()
        await socket.join(room)
        return "joined"


def application(config: RealtimeConfig, namespaces: dict[str, Namespace]):
    from channels.routing import ProtocolTypeRouter, URLRouter

    http, websocket = endpoints("socket.io", socketio_server(config, namespaces))
    return ProtocolTypeRouter({"http": URLRouter(http), "websocket": URLRouter(websocket)})


async def recv_text(communicator: WebsocketCommunicator, timeout: float = 1.0) -> str | bytes:
    message = await communicator.receive_output(timeout)
    assert message["type"] == "websocket.send", message
    return message.get("text") if message.get("text") is not None else message["bytes"]


@pytest.fixture
async def asking():
    namespace = AskingNamespace()
    app = application(RealtimeConfig(ping_interval_ms=60_000, connect_timeout_ms=5_000),
                      {"/": namespace})
    communicator = WebsocketCommunicator(app, WS_PATH)
    connected, _ = await communicator.connect()
    assert connected
    parse_open(await recv_text(communicator))
    await communicator.send_to(text_data="40")
    assert CONNECT_REPLY.match(await recv_text(communicator))
    yield communicator, namespace
    await communicator.disconnect()


async def test_a_handler_awaits_the_clients_ack(asking):
    communicator, namespace = asking
    await communicator.send_to(text_data='421["ask","2+2?"]')
    assert await recv_text(communicator) == '420["question","2+2?"]'
    await communicator.send_to(text_data='430["four",4]')
    assert await recv_text(communicator) == '431[{"answer":["four",4]}]'
    assert await asyncio.wait_for(namespace.answers.get(), 1) == ["four", 4]


async def test_server_to_client_ack_answered_with_binary(asking):
    communicator, namespace = asking
    await communicator.send_to(text_data='42["ask",{"blob":true}]')
    assert await recv_text(communicator) == '420["question",{"blob":true}]'
    await communicator.send_to(text_data='461-0[{"_placeholder":true,"num":0}]')
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert await asyncio.wait_for(namespace.answers.get(), 1) == [b"\x00\x01"]


async def test_server_ack_ids_increase_and_unknown_acks_are_ignored(asking):
    communicator, namespace = asking
    await communicator.send_to(text_data='42["ask","a"]')
    await communicator.send_to(text_data='42["ask","b"]')  # handled after the first one
    assert await recv_text(communicator) == '420["question","a"]'
    await communicator.send_to(text_data='4399["nobody asked"]')
    await communicator.send_to(text_data='430["A"]')
    assert await recv_text(communicator) == '421["question","b"]'
    await communicator.send_to(text_data='431["B"]')
    assert await asyncio.wait_for(namespace.answers.get(), 1) == ["A"]
    assert await asyncio.wait_for(namespace.answers.get(), 1) == ["B"]


async def test_server_ack_times_out_without_an_answer(asking):
    communicator, namespace = asking
    await communicator.send_to(text_data='42["ask","silence"]')
    assert await recv_text(communicator) == '420["question","silence"]'
    assert await asyncio.wait_for(namespace.answers.get(), 2) == "timeout"


async def test_a_pending_server_ack_is_cancelled_when_the_connection_closes(asking):
    communicator, namespace = asking
    await communicator.send_to(text_data='42["ask","bye"]')
    assert await recv_text(communicator) == '420["question","bye"]'
    await communicator.send_to(text_data="41")  # leaving the namespace does not answer it
    await communicator.disconnect()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(namespace.answers.get(), 0.3)


async def test_a_room_joined_after_the_connection_closed_is_left_again(asking):
    from realtime.server.hub import get_hub

    communicator, namespace = asking
    await communicator.send_to(text_data='42["slow_join","org:late"]')
    await communicator.disconnect()
    await asyncio.sleep(0.05)  # the close is handled while the handler still waits
    namespace.release.set()
    await asyncio.sleep(0.2)
    hub = get_hub()
    try:
        assert "org:late" not in hub.members
    finally:
        await hub.stop()


# -- configuration ---------------------------------------------------------------------------


@override_settings(REALTIME={"PING_INTERVAL_MS": 1500, "PING_TIMEOUT_MS": 700,
                             "MAX_PAYLOAD": 4096, "CONNECT_TIMEOUT_MS": 900,
                             "ALLOWED_ORIGINS": ["https://dash.example"]})
def test_settings_are_read_through_one_accessor():
    assert realtime_config() == RealtimeConfig(
        ping_interval_ms=1500, ping_timeout_ms=700, max_payload=4096, connect_timeout_ms=900,
        allowed_origins=("https://dash.example",),
    )


def test_defaults_follow_the_reference_server():
    config = RealtimeConfig()
    assert (config.ping_interval_ms, config.ping_timeout_ms) == (25_000, 20_000)
    assert (config.max_payload, config.connect_timeout_ms) == (1_000_000, 45_000)


async def test_product_application_advertises_the_configured_heartbeat_and_payload():
    with override_settings(REALTIME={"PING_INTERVAL_MS": 1500, "PING_TIMEOUT_MS": 700,
                                     "MAX_PAYLOAD": 4096}):
        app = build_application(get_asgi_application())
    response = await HttpCommunicator(app, "GET", POLLING_PATH).get_response()
    assert response["status"] == 200
    handshake = parse_open(response["body"].decode())
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (1500, 700)
    assert handshake["maxPayload"] == 4096
    app.gateway.close_all("test over")


async def test_configured_max_payload_is_enforced_on_websocket():
    app = application(RealtimeConfig(max_payload=64), {"/": Namespace()})
    communicator = WebsocketCommunicator(app, WS_PATH)
    assert (await communicator.connect())[0]
    assert parse_open(await recv_text(communicator))["maxPayload"] == 64
    await communicator.send_to(text_data="4" + "x" * 64)
    assert (await communicator.receive_output(1))["type"] == "websocket.close"
    await communicator.wait(1)


async def test_configured_connect_timeout_closes_a_session_without_connect():
    app = application(RealtimeConfig(connect_timeout_ms=100), {"/": Namespace()})
    communicator = WebsocketCommunicator(app, WS_PATH)
    assert (await communicator.connect())[0]
    parse_open(await recv_text(communicator))
    assert (await communicator.receive_output(1))["type"] == "websocket.close"
    await communicator.wait(1)


ORIGINS = RealtimeConfig(allowed_origins=("https://dash.example",))


@pytest.mark.parametrize(
    ("origin", "status"),
    [(b"https://dash.example", 200), (b"https://evil.example", 403), (None, 200)],
)
async def test_allowed_origins_on_polling(origin, status):
    app = application(ORIGINS, {"/": Namespace()})
    headers = [(b"origin", origin)] if origin else []
    response = await HttpCommunicator(app, "GET", POLLING_PATH, headers=headers).get_response()
    assert response["status"] == status
    cors = dict(response["headers"]).get(b"Access-Control-Allow-Origin")
    assert cors == (origin if status == 200 else None)
    if status == 403:
        assert json.loads(response["body"]) == {"code": 4, "message": "Forbidden"}


async def test_disallowed_origin_cannot_open_a_websocket():
    app = application(ORIGINS, {"/": Namespace()})
    communicator = WebsocketCommunicator(app, WS_PATH, headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


async def test_allowed_origin_opens_a_websocket():
    app = application(ORIGINS, {"/": Namespace()})
    communicator = WebsocketCommunicator(app, WS_PATH, headers=[(b"origin", b"https://dash.example")])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()


# -- the product profile ---------------------------------------------------------------------


@pytest.fixture
def product_app():
    from vendhub.asgi import application as app

    return app


async def test_product_profile_has_no_engine_io_echo_endpoint(product_app):
    response = await HttpCommunicator(
        product_app, "GET", "/engine.io/?EIO=4&transport=polling", headers=[(b"host", b"localhost")]
    ).get_response()
    assert response["status"] == 404
    communicator = WebsocketCommunicator(product_app, "/engine.io/?EIO=4&transport=websocket")
    with pytest.raises(ValueError, match="No route found"):
        await communicator.connect()


async def test_product_profile_has_no_custom_namespace(product_app):
    communicator = WebsocketCommunicator(product_app, WS_PATH)
    assert (await communicator.connect())[0]
    handshake = parse_open(await recv_text(communicator))
    assert (handshake["pingInterval"], handshake["pingTimeout"]) != (300, 200)
    await communicator.send_to(text_data="40/custom,")
    assert await recv_text(communicator) == '44/custom,{"message":"Invalid namespace"}'
    await communicator.disconnect()


async def test_configured_max_payload_counts_bytes_not_characters():
    app = application(RealtimeConfig(max_payload=64), {"/": Namespace()})
    communicator = WebsocketCommunicator(app, WS_PATH)
    assert (await communicator.connect())[0]
    parse_open(await recv_text(communicator))
    await communicator.send_to(text_data="4" + "é" * 40)  # 41 characters, 81 bytes
    assert (await communicator.receive_output(1))["type"] == "websocket.close"
    await communicator.wait(1)


async def test_an_upgrade_that_never_completes_is_abandoned_after_the_upgrade_timeout():
    app = application(RealtimeConfig(upgrade_timeout_ms=200), {"/": Namespace()})
    response = await HttpCommunicator(app, "GET", POLLING_PATH).get_response()
    sid = parse_open(response["body"].decode())["sid"]
    probe = WebsocketCommunicator(app, f"{WS_PATH}&sid={sid}")
    assert (await probe.connect())[0]
    await probe.send_to(text_data="2probe")
    assert await recv_text(probe) == "3probe"
    get = await HttpCommunicator(app, "GET", f"{POLLING_PATH}&sid={sid}").get_response()
    assert get["body"] == b"6"  # upgrading: a GET is not held
    assert (await probe.receive_output(1))["type"] == "websocket.close"
    await probe.send_input({"type": "websocket.disconnect", "code": 1000})
    await probe.wait(1)
    # Long-polling carries on: a CONNECT by POST is answered on the next GET.
    post = await HttpCommunicator(app, "POST", f"{POLLING_PATH}&sid={sid}",
                                  body=b"40").get_response()
    assert post["body"] == b"ok"
    get = await HttpCommunicator(app, "GET", f"{POLLING_PATH}&sid={sid}").get_response()
    assert CONNECT_REPLY.match(get["body"].decode())


@pytest.mark.parametrize("event", ["unknown_event", "unknown-event", "connect", "disconnect",
                                   "no such handler", "x" * 65])
async def test_events_without_a_handler_are_acknowledged_empty(asking, event):
    communicator, _ = asking
    await communicator.send_to(text_data=f'427["{event}","a",{{"b":1}},3]')
    assert await recv_text(communicator) == "437[]"


async def test_a_join_that_failed_can_be_retried(asking, monkeypatch):
    from realtime.server.hub import CONTROL_GROUP, get_hub

    communicator, namespace = asking
    namespace.release.set()
    hub = get_hub()
    real_group_add = hub.layer.group_add
    calls = []

    async def flaky_group_add(group, channel):
        if group != CONTROL_GROUP:  # the process's own group, joined once at start
            calls.append(group)
            if len(calls) == 1:
                raise ConnectionError("redis went away")
        await real_group_add(group, channel)

    monkeypatch.setattr(hub.layer, "group_add", flaky_group_add)
    try:
        await communicator.send_to(text_data='421["slow_join","org:retry"]')
        reply = await recv_text(communicator)
        assert reply.startswith('431[{"event":"error"'), reply
        await communicator.send_to(text_data='422["slow_join","org:retry"]')
        assert await recv_text(communicator) == '432["joined"]'
        assert len(calls) == 2
        assert len(hub.members["org:retry"]) == 1
    finally:
        await communicator.disconnect()
        await hub.stop()
