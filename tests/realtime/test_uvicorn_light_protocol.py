"""The product under uvicorn with realtime.server.engine.uvicorn_ws (a receive queue and a writable
flag that allocate nothing while idle): the same behaviour as with uvicorn's own protocol,
including the slow-reader backpressure case, and the queue and flag semantics uvicorn uses."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys

import httpx
import pytest
from websockets.frames import Frame, Opcode

from realtime.server.engine.uvicorn_ws import ReceiveQueue, WritableFlag, wire_text_frame
from tests.live import ROOT, LiveServer
from tests.realtime import test_backpressure
from tests.realtime.product import Gateway, publish, raw_client
from tests.realtime.test_backpressure import QUEUE_BOUND
from tests.realtime.test_metrics import scrape

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def uvicorn_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "vendhub.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--ws", "realtime.server.engine.uvicorn_ws:WebSocketProtocol",
            "--lifespan", "off"]


@pytest.fixture
def tight_gateway(gateway):
    """The product under uvicorn with the light protocol, 50 frames queued per client."""
    env = {"REALTIME_MAX_QUEUED_FRAMES": str(QUEUE_BOUND)}
    with LiveServer(env=env, argv=uvicorn_argv) as server:
        yield Gateway(server, gateway.people, gateway.tokens)


def readme_uvicorn_argv(port: int) -> list[str]:
    """README's production uvicorn command (section "Serving"), on 127.0.0.1:`port`."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^uvicorn vendhub\.asgi:application(?:.*\\\n)*.*$", readme, re.MULTILINE)
    assert match, "README lost its uvicorn command"
    argv = shlex.split(match.group(0).replace("\\\n", " "))
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    return [sys.executable, "-m", *argv]


# The daphne test, run again with this module's `tight_gateway`.
test_a_slow_reader_is_disconnected_without_delaying_the_others_with_the_light_protocol = (
    test_backpressure.test_a_slow_reader_is_disconnected_without_delaying_the_others
)


async def test_subscribers_get_their_events_with_the_light_protocol(tight_gateway):
    room = f"machine:{tight_gateway.people.machine.id}"
    async with raw_client(tight_gateway, tight_gateway.tokens["operator"]) as client:
        assert await client.subscribe(room) == {"event": "subscribed", "data": {"room": room}}
        for number in range(3):
            await publish(room, "test:event", number)
            assert await client.next_event() == ["test:event", number]
        assert await client.call("unknown-event", {"echo": "me"}) == []  # acked empty


async def test_compressed_and_uncompressed_subscribers_get_the_same_events(tight_gateway):
    """A broadcast writes bytes serialized once to sockets without permessage-deflate, and
    compresses per socket for the others: both get every event, whole, in order. The
    sizes cross the frame header's length encodings (7 bits, 16 bits, 64 bits)."""
    room = f"machine:{tight_gateway.people.machine.id}"
    token = tight_gateway.tokens["operator"]
    async with (raw_client(tight_gateway, token, compression=None) as plain,
                raw_client(tight_gateway, token, compression="deflate") as deflated):
        assert not plain.ws.protocol.extensions
        assert deflated.ws.protocol.extensions  # the server accepted permessage-deflate
        for client in (plain, deflated):
            await client.subscribe(room)
        payloads = ["s", "m" * 200, "é" * 40_000]
        for payload in payloads:
            await publish(room, "test:event", payload)
        for client in (plain, deflated):
            assert [await client.next_event() for _ in payloads] == [
                ["test:event", payload] for payload in payloads]


@pytest.fixture
def batching_gateway(gateway):
    """The product under uvicorn with the light protocol, holding write batches long."""
    env = {"REALTIME_WRITE_BATCH_EVENTS": "16", "REALTIME_WRITE_BATCH_HOLD_MS": "50"}
    with LiveServer(env=env, argv=uvicorn_argv) as server:
        yield Gateway(server, gateway.people, gateway.tokens)


async def test_a_burst_is_written_in_batches_and_arrives_whole_and_in_order(batching_gateway):
    """A burst of events puts the hub behind: each socket gets several frames per write
    (one buffer of concatenated frames), or frame by frame when its connection compresses;
    every client reads every event, in order."""
    gateway = batching_gateway
    room = f"machine:{gateway.people.machine.id}"
    token = gateway.tokens["operator"]
    count = 200
    async with (httpx.AsyncClient(base_url=gateway.url, timeout=10) as http,
                raw_client(gateway, token, compression=None) as plain,
                raw_client(gateway, token, compression="deflate") as deflated):
        for client in (plain, deflated):
            await client.subscribe(room)
        before = await scrape(http)
        for n in range(count):  # back to back: faster than the hub's receive round trips
            await publish(room, "test:event", {"n": n, "pad": "x" * (n % 300)})
        for client in (plain, deflated):
            received = [await client.next_event() for _ in range(count)]
            assert [event[1]["n"] for event in received] == list(range(count))
        after = await scrape(http)
    batches = ("vendhub_realtime_write_batches_total", ())
    assert after.get(batches, 0) > before.get(batches, 0)


def test_the_readme_uvicorn_command_is_the_one_the_cluster_and_the_benchmarks_run():
    from vendhub.cluster import uvicorn_argv as cluster_argv

    assert readme_uvicorn_argv(8123) == cluster_argv("127.0.0.1", 8123)


async def test_the_readme_uvicorn_command_serves_the_gateway_without_permessage_deflate(
        gateway):
    with LiveServer(argv=readme_uvicorn_argv) as server:
        readme_gateway = Gateway(server, gateway.people, gateway.tokens)
        room = f"machine:{gateway.people.machine.id}"
        async with raw_client(readme_gateway, gateway.tokens["operator"],
                              compression="deflate") as client:
            assert not client.ws.protocol.extensions  # offered, declined
            await client.subscribe(room)
            await publish(room, "test:event", "through the README's server")
            assert await client.next_event() == ["test:event", "through the README's server"]


def test_a_wire_text_frame_is_what_websockets_serializes_and_is_reused_for_the_same_text():
    for text in ["", "42[\"a\"]", "x" * 125, "x" * 126, "x" * 65_535, "é" * 40_000]:
        wire = wire_text_frame(text)
        assert wire == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
        assert wire_text_frame(text) is wire  # the same str: serialized once
    first = "42" + "[1]"
    equal_but_distinct = "".join(["42", "[1]"])
    assert wire_text_frame(first) == wire_text_frame(equal_but_distinct)


async def test_the_receive_queue_hands_items_over_in_order_and_keeps_nothing_when_empty():
    queue = ReceiveQueue()
    assert queue.empty() and queue.qsize() == 0
    getter = asyncio.get_running_loop().create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await queue.get()  # a second receiver at once
    queue.put_nowait({"n": 1})
    queue.put_nowait({"n": 2})
    assert await getter == {"n": 1}
    assert queue.qsize() == 1
    assert await queue.get() == {"n": 2}
    assert queue.empty() and queue._items is None and queue._getter is None


async def test_a_cancelled_receive_loses_no_item():
    queue = ReceiveQueue()
    getter = asyncio.get_running_loop().create_task(queue.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    queue.put_nowait("kept")
    assert await queue.get() == "kept"


async def test_the_writable_flag_wakes_every_writer_once_set():
    flag = WritableFlag()
    assert not flag.is_set()
    writers = [asyncio.get_running_loop().create_task(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    flag.set()
    assert await asyncio.gather(*writers) == [True, True]
    assert flag._waiters is None
    flag.clear()
    waiting = asyncio.get_running_loop().create_task(flag.wait())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not flag._waiters
    flag.set()
    assert await flag.wait() is True


def test_only_the_light_protocols_send_offers_a_direct_frame_writer():
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    from realtime.server.engine.uvicorn_ws import WebSocketProtocol, direct_frame_writer

    light = WebSocketProtocol.__new__(WebSocketProtocol)
    stock = WebSocketsSansIOProtocol.__new__(WebSocketsSansIOProtocol)
    assert direct_frame_writer(light.send) == light.send_frame_now
    assert direct_frame_writer(stock.send) is None

    async def daphne_send(message):  # any other server's send callable
        return None

    assert direct_frame_writer(daphne_send) is None


async def test_the_handshake_is_forgotten_once_the_websocket_is_accepted():
    """An idle connection keeps no handshake headers: the light protocol drops the 101
    response and uvicorn's reference to the request once the accept is sent."""
    import uvicorn
    import websockets

    from realtime.server.engine.uvicorn_ws import WebSocketProtocol
    from tests.live import free_port

    seen = {}

    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        protocol = send.__self__
        seen["before"] = (protocol.request is not None, protocol.response is not None)
        await send({"type": "websocket.accept"})
        seen["after"] = (protocol.request, protocol.response)
        seen["parser holds"] = set(protocol.conn.parser.gi_frame.f_locals)
        seen["dict"] = dict(vars(protocol))  # every attribute in a slot
        await send({"type": "websocket.send", "text": "hello"})  # the socket still works
        seen["received"] = [(await receive())["text"] for _ in range(2)]
        await receive()

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           ws=WebSocketProtocol, log_level="warning"))
    serving = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            assert await client.recv() == "hello"
            await client.send("after the handshake")  # the restarted frame parser reads it
            await client.send("x" * 70_000)  # a frame read in several chunks
        assert seen.pop("received") == ["after the handshake", "x" * 70_000]
        assert "request" not in seen.pop("parser holds")
        assert seen == {"before": (True, True), "after": (None, None), "dict": {}}
    finally:
        server.should_exit = True
        await serving
