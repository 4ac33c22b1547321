"""Helpers of the product-profile tests: a live server with the personas and their tokens,
and a raw Socket.IO client that speaks exact frames."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from realtime.broadcast import apublish
from realtime.server.history import is_offset
from tests.factories import Personas
from tests.live import LiveServer
from tests.realtime.wire import RECOVERY_CONNECT_REPLY, engine_websocket, recv_skipping_pings


@dataclass
class Gateway:
    server: LiveServer
    people: Personas
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def sends_snapshot(room: str) -> bool:
    """A new subscription to `room` is followed by a snapshot event (realtime/namespaces.py)."""
    return room == "machines:all" or room.startswith("machine:")


class RawClient:
    """A Socket.IO client on `/` over a raw websocket: exact frames, numbered acks.

    `subscribe` takes the snapshot that follows a new subscription to `machine:{id}` or
    `machines:all` off the wire and keeps it in `snapshots[room]`, so that tests of other
    events see only those.

    The product server has connection state recovery on: its CONNECT reply carries a `pid`,
    and each room event an offset as its last argument. `next_event()` returns the event
    without it and keeps it in `offset` (the last one seen, what a client sends back)."""

    def __init__(self, ws, sid: str = "", pid: str = "") -> None:
        self.ws = ws
        self.sid = sid
        self.pid = pid
        self.offset: str | None = None
        self.next_ack = 0
        self.events: list = []
        self.snapshots: dict[str, list] = {}
        self.rooms: set[str] = set()

    async def recv(self, timeout: float = 5.0):
        return await recv_skipping_pings(self.ws, timeout)

    async def call(self, event: str, data, timeout: float = 5.0):
        """Emit with an ack id; return the ack's arguments (events received meanwhile are kept)."""
        ack_id = self.next_ack
        self.next_ack += 1
        await self.ws.send(f"42{ack_id}" + json.dumps([event, data], separators=(",", ":")))
        prefix = f"43{ack_id}"
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - asyncio.get_running_loop().time()))
            if isinstance(frame, str) and frame.startswith(prefix + "["):
                return json.loads(frame[len(prefix):])
            self.events.append(frame)

    async def subscribe(self, room: str, *, snapshot: bool | None = None, **options) -> dict:
        """`snapshot`: take the snapshot event off the wire (default: when the room sends
        one and this client was not subscribed to it yet); `options` go into the payload
        (`batch=True`)."""
        (answer,) = await self.call("subscribe", {"room": room, **options})
        if not isinstance(answer, dict) or answer.get("event") != "subscribed":
            return answer
        canonical = answer["data"]["room"]
        if snapshot is None:
            snapshot = sends_snapshot(canonical) and canonical not in self.rooms
        self.rooms.add(canonical)
        if snapshot:
            self.snapshots[canonical] = await self.next_event()
        return answer

    async def unsubscribe(self, room: str) -> dict:
        (answer,) = await self.call("unsubscribe", {"room": room})
        if isinstance(answer, dict) and answer.get("event") == "unsubscribed":
            self.rooms.discard(answer["data"]["room"])
        return answer

    async def next_event(self, timeout: float = 5.0) -> list:
        """The next EVENT as [name, *args], without its recovery offset (kept in `offset`)."""
        event = await self.next_event_with_offset(timeout)
        if len(event) > 1 and is_offset(event[-1]):
            self.offset = event.pop()
        return event

    async def next_event_with_offset(self, timeout: float = 5.0) -> list:
        """The next EVENT as [name, *args], exactly as sent."""
        if self.events:
            frame = self.events.pop(0)
        else:
            frame = await self.recv(timeout)
        assert isinstance(frame, str) and frame.startswith("42"), frame
        return json.loads(frame[2:])

    async def assert_no_event(self, within: float = 0.5) -> None:
        assert not self.events, self.events
        try:
            frame = await self.recv(within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame!r}")


@asynccontextmanager
async def raw_client(gateway: Gateway, token: str | None, *, query: str = "", headers=None,
                     compression: str | None = "deflate", **auth_extra):
    """A raw client connected with `token` (and `auth_extra`, e.g. pid and offset) in the
    CONNECT auth payload, or none. `compression`: None offers no permessage-deflate (what
    socket.io-client 4 does by default in node, and what the benchmark clients do)."""
    auth = {"token": token, **auth_extra} if token is not None else auth_extra
    kwargs = {"additional_headers": headers} if headers else {}
    kwargs["compression"] = compression
    async with engine_websocket(gateway.url, query=query, **kwargs) as (ws, _):
        await ws.send("40" + (json.dumps(auth, separators=(",", ":")) if auth else ""))
        reply = await recv_skipping_pings(ws)
        match = RECOVERY_CONNECT_REPLY.match(reply)
        assert match, reply
        yield RawClient(ws, match["sid"], match["pid"])


async def connect_error(gateway: Gateway, connect_packet: str, *, query: str = "",
                        headers=None) -> dict:
    """The CONNECT_ERROR payload the server answers `connect_packet` with."""
    kwargs = {"additional_headers": headers} if headers else {}
    async with engine_websocket(gateway.url, query=query, **kwargs) as (ws, _):
        await ws.send(connect_packet)
        reply = await recv_skipping_pings(ws)
        assert reply.startswith("44{"), reply
        return json.loads(reply[2:])


async def publish(room: str, event: str, payload) -> None:
    """Publish from the test process through the gateway's one door (Redis → server)."""
    await apublish(room, event, payload)
