"""Raw Engine.IO / Socket.IO clients for protocol tests: httpx for long-polling, `websockets`
for websocket frames. Every wait is bounded, so a misbehaving server fails a test instead
of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 5.0
OPEN_PACKET = re.compile(
    r'^0\{"sid":"(?P<sid>[A-Za-z0-9_-]+)","upgrades":(?P<upgrades>\[[^\]]*\]),'
    r'"pingInterval":(?P<interval>\d+),"pingTimeout":(?P<timeout>\d+),'
    r'"maxPayload":(?P<max_payload>\d+)\}$'
)
CONNECT_REPLY = re.compile(r'^40(?P<nsp>/[^,]*,)?\{"sid":"(?P<sid>[A-Za-z0-9_-]+)"\}$')
#: The product profile's CONNECT reply: with connection state recovery, a private session id.
RECOVERY_CONNECT_REPLY = re.compile(
    r'^40\{"sid":"(?P<sid>[A-Za-z0-9_-]+)","pid":"(?P<pid>[A-Za-z0-9_-]+)"\}$'
)


def parse_open(frame: str) -> dict:
    """The handshake fields of an exact open packet (AssertionError if it is not one)."""
    match = OPEN_PACKET.match(frame)
    assert match, f"not an exact Engine.IO open packet: {frame!r}"
    return {**json.loads(frame[1:]), "raw": frame}


class Polling:
    """A long-polling Engine.IO session driven by hand."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, path: str = "/socket.io/",
                 query: str = "") -> None:
        self.client = client
        self.url = f"{base_url}{path}?EIO=4&transport=polling{query}"
        self.sid: str | None = None
        self.handshake: dict = {}

    @property
    def session_url(self) -> str:
        return f"{self.url}&sid={self.sid}"

    async def open(self) -> dict:
        response = await self.client.get(self.url, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        self.handshake = parse_open(response.text)
        self.sid = self.handshake["sid"]
        return self.handshake

    async def get(self, timeout: float = TIMEOUT) -> httpx.Response:
        return await self.client.get(self.session_url, timeout=timeout)

    async def get_text(self, timeout: float = TIMEOUT) -> str:
        response = await self.get(timeout)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.text

    async def post(self, body: str | bytes, timeout: float = TIMEOUT) -> httpx.Response:
        return await self.client.post(self.session_url, content=body, timeout=timeout)

    async def send(self, body: str | bytes) -> None:
        response = await self.post(body)
        assert (response.status_code, response.text) == (200, "ok")

    async def get_until(self, predicate, timeout: float = TIMEOUT) -> list[str]:
        """GET until a packet satisfies `predicate`, answering pings; returns all packets."""
        seen: list[str] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no matching packet within {timeout}s; got {seen!r}"
            packets = (await self.get_text(remaining)).split("\x1e")
            for packet in packets:
                if packet == "2":
                    await self.send("3")
                else:
                    seen.append(packet)
            if any(predicate(p) for p in packets):
                return seen


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), timeout)


async def recv_skipping_pings(ws: ClientConnection, timeout: float = TIMEOUT,
                              answer: bool = True) -> str | bytes:
    """The next frame that is not an Engine.IO ping (pings are answered with `3`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        frame = await recv(ws, max(0.01, deadline - asyncio.get_running_loop().time()))
        if frame != "2":
            return frame
        if answer:
            await ws.send("3")


async def wait_closed(ws: ClientConnection, timeout: float = TIMEOUT) -> list[str | bytes]:
    """Read until the server closes the websocket; returns the frames read before that."""
    frames: list[str | bytes] = []

    async def drain() -> None:
        try:
            while True:
                frames.append(await ws.recv())
        except ConnectionClosed:
            pass

    await asyncio.wait_for(drain(), timeout)
    return frames


@asynccontextmanager
async def websocket(base_url: str, path: str = "/socket.io/", query: str = "", **kwargs):
    url = base_url.replace("http://", "ws://") + f"{path}?EIO=4&transport=websocket{query}"
    async with connect(url, ping_interval=None, max_size=None, open_timeout=TIMEOUT,
                       close_timeout=1, **kwargs) as ws:
        yield ws


@asynccontextmanager
async def engine_websocket(base_url: str, path: str = "/socket.io/", query: str = "", **kwargs):
    """A websocket Engine.IO session: yields (ws, handshake fields)."""
    async with websocket(base_url, path, query, **kwargs) as ws:
        handshake = parse_open(await recv(ws))
        yield ws, handshake


@asynccontextmanager
async def socketio_websocket(base_url: str, connect_packet: str = "40", query: str = "",
                             **kwargs):
    """A websocket Socket.IO connection on `/`: yields (ws, CONNECT reply frame)."""
    async with engine_websocket(base_url, query=query, **kwargs) as (ws, _):
        await ws.send(connect_packet)
        reply = await recv_skipping_pings(ws)
        yield ws, reply
