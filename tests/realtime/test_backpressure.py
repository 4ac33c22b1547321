"""Backpressure: each connection's outbound queue is bounded; a client that stops reading is
disconnected as a slow client (and recovers afterwards) instead of growing the server's
memory or delaying the other clients of its room."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from contextlib import AsyncExitStack

import pytest
from websockets.exceptions import ConnectionClosed

from tests.live import LiveServer
from tests.realtime.conftest import wait_for_log
from tests.realtime.product import Gateway, RawClient, publish, raw_client
from tests.realtime.wire import RECOVERY_CONNECT_REPLY, engine_websocket, recv_skipping_pings

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

EVENTS = 300
# 300 events of 32 kB: ~10 MB, more than the kernel buffers hold. Random, so that a server
# negotiating permessage-deflate (uvicorn does) cannot shrink it to nothing.
PAD = secrets.token_urlsafe(24_000)
QUEUE_BOUND = 50


@pytest.fixture
def tight_gateway(gateway):
    """A product server that lets 50 frames wait for one client before closing it."""
    with LiveServer(env={"REALTIME_MAX_QUEUED_FRAMES": str(QUEUE_BOUND)}) as server:
        yield Gateway(server, gateway.people, gateway.tokens)


class Reader:
    """Reads a fast client's frames as they come: the events' sequence numbers and latency."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.seqs: list[int] = []
        self.latencies: list[float] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            event = await self.client.next_event(30)
            payload = event[1]
            self.latencies.append(time.time() - payload["sent"])
            self.seqs.append(payload["seq"])

    async def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seqs) < count:
            assert not self.task.done(), self.task
            assert time.monotonic() < deadline, f"{len(self.seqs)} of {count} events"
            await asyncio.sleep(0.05)


async def slow_socket(port: int) -> socket.socket:
    """A TCP connection with a small receive buffer: the server's sends back up fast."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


def seq_and_offset(frame: str) -> tuple[int, str]:
    name, payload, offset = json.loads(frame[2:])
    assert name == "test:event"
    return payload["seq"], offset


async def test_a_slow_reader_is_disconnected_without_delaying_the_others(tight_gateway):
    gateway = tight_gateway
    room = f"org:{gateway.people.acme.id}"
    token = gateway.tokens["viewer"]
    async with AsyncExitStack() as stack:
        fast = []
        for name in ("operator", "manager"):
            client = await stack.enter_async_context(raw_client(gateway, gateway.tokens[name]))
            await client.subscribe(room)
            fast.append(client)
        # The slow client subscribes, then never reads again: its websocket library stops
        # reading from TCP once one message waits (max_queue=1).
        ws, _ = await stack.enter_async_context(engine_websocket(
            gateway.url, sock=await slow_socket(gateway.server.port), max_queue=1))
        await ws.send("40" + json.dumps({"token": token}))
        match = RECOVERY_CONNECT_REPLY.match(await recv_skipping_pings(ws))
        slow = RawClient(ws, match["sid"], match["pid"])
        assert (await slow.subscribe(room))["event"] == "subscribed"

        readers = [Reader(client) for client in fast]
        for seq in range(EVENTS):
            await publish(room, "test:event", {"seq": seq, "sent": time.time(), "pad": PAD})
            await asyncio.sleep(0.005)
        for reader in readers:
            await reader.wait_for(EVENTS, timeout=20)
            reader.task.cancel()
        wait_for_log(gateway.server, "closing slow client", timeout=10)

        for reader in readers:
            assert reader.seqs == list(range(EVENTS))  # every event, in order, once
            latencies = sorted(reader.latencies)
            p95, worst = latencies[int(0.95 * len(latencies))], latencies[-1]
            # Publish to receipt through Redis and the server: a few ms here while the slow
            # client backs up; bounds wide enough for a loaded CI machine.
            assert p95 < 0.5 and worst < 2.0, (p95, worst)

        # What the slow client had received before it was dropped, then its recovery.
        received: list[int] = []
        offset = None
        try:
            while True:
                frame = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(frame, str) and frame.startswith("42"):
                    seq, offset = seq_and_offset(frame)
                    received.append(seq)
        except ConnectionClosed:
            pass
        assert len(received) < EVENTS - QUEUE_BOUND  # the rest was dropped with the client
        resume = {"pid": slow.pid, "offset": offset} if offset else {"pid": slow.pid}
        async with raw_client(gateway, token, **resume) as again:
            assert (again.sid, again.pid) == (slow.sid, slow.pid)
            while len(received) < EVENTS:
                event = await again.next_event(10)
                received.append(event[1]["seq"])
            await again.assert_no_event(0.3)
        assert received == list(range(EVENTS))
